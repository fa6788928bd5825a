// The directory tree as a flat list of visible rows, so the component can render only the
// rows in view (a virtual list) however many channels are loaded. Containers (regions, groups)
// come from the small tree answers; their channels are fetched a page at a time when opened.
import type { Channel, Group, Region } from "./types";

export const PAGE_SIZE = 200;

export interface Container {
  key: string;
  /** ``unplaced``: channels without a usable civil code, which no region holds. */
  kind: "region" | "group" | "unplaced";
  id: string;
  label: string;
  /** Channels directly in it (what a page fetch lists). */
  direct: number;
  /** Channels in its whole subtree, for the label. */
  total: number;
  children: Container[];
}

export interface ChannelPage {
  items: Channel[];
  total: number;
  loading: boolean;
  error: string | null;
}

export type Row =
  | { key: string; type: "container"; depth: number; node: Container; open: boolean }
  | { key: string; type: "channel"; depth: number; channel: Channel }
  | { key: string; type: "more"; depth: number; node: Container; left: number }
  | { key: string; type: "note"; depth: number; text: "loading" | "empty" | "error"; detail?: string };

export function fromRegions(regions: Region[]): Container[] {
  return regions.map((r) => ({
    key: `r:${r.code}`,
    kind: "region",
    id: r.code,
    label: r.name,
    direct: r.channel_count,
    total: r.total_channels,
    children: fromRegions(r.children),
  }));
}

/** The node listing the channels no region holds (``count`` from the region tree answer). */
export function unplacedNode(count: number): Container {
  return { key: "u:", kind: "unplaced", id: "unplaced", label: "", direct: count, total: count, children: [] };
}

function groupTotal(group: Group): number {
  return group.channel_count + group.children.reduce((sum, g) => sum + groupTotal(g), 0);
}

export function fromGroups(groups: Group[]): Container[] {
  return groups.map((g) => ({
    key: `g:${g.id}`,
    kind: "group",
    id: g.id,
    label: g.name,
    direct: g.channel_count,
    total: groupTotal(g),
    children: fromGroups(g.children),
  }));
}

/** The rows to show: open containers list their sub-containers, then their loaded channels. */
export function flatten(
  roots: Container[],
  open: ReadonlySet<string>,
  pages: ReadonlyMap<string, ChannelPage>,
): Row[] {
  const rows: Row[] = [];
  const walk = (nodes: Container[], depth: number): void => {
    for (const node of nodes) {
      const isOpen = open.has(node.key);
      rows.push({ key: node.key, type: "container", depth, node, open: isOpen });
      if (!isOpen) continue;
      walk(node.children, depth + 1);
      const page = pages.get(node.key);
      if (!page) continue;
      for (const channel of page.items) {
        rows.push({ key: `${node.key}/${channel.id}`, type: "channel", depth: depth + 1, channel });
      }
      if (page.loading) {
        rows.push({ key: `${node.key}/~loading`, type: "note", depth: depth + 1, text: "loading" });
      } else if (page.error) {
        rows.push({
          key: `${node.key}/~error`,
          type: "note",
          depth: depth + 1,
          text: "error",
          detail: page.error,
        });
      } else if (page.items.length < page.total) {
        const left = page.total - page.items.length;
        rows.push({ key: `${node.key}/~more`, type: "more", depth: depth + 1, node, left });
      } else if (page.total === 0 && node.children.length === 0) {
        rows.push({ key: `${node.key}/~empty`, type: "note", depth: depth + 1, text: "empty" });
      }
    }
  };
  walk(roots, 0);
  return rows;
}

/** The window of rows to render for a scroll position (with a few rows of overscan). */
export function visibleRange(
  scrollTop: number,
  viewHeight: number,
  rowHeight: number,
  count: number,
  overscan = 8,
): [number, number] {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((scrollTop + viewHeight) / rowHeight) + overscan);
  return [first, last];
}
