// The access model as the console sees it: shapes of the access and audit routes, who is
// logged in (GET /api/v1/me) and their unread notifications, shared by the navigation and pages.
import { computed, ref } from "vue";
import { get, getToken } from "./api";
import "./access.css";

export type Role =
  | "viewer"
  | "operator"
  | "exporter"
  | "department_admin"
  | "auditor"
  | "system_admin";
export const ROLES: Role[] = [
  "viewer",
  "operator",
  "exporter",
  "department_admin",
  "auditor",
  "system_admin",
];
export type GrantAction = "live" | "playback" | "ptz" | "export";
export const GRANT_ACTIONS: GrantAction[] = ["live", "playback", "ptz", "export"];
export type ScopeKind = "channel" | "group" | "region";
export type RequestState = "pending" | "approved" | "rejected" | "expired" | "withdrawn";
export type Classification = "public_security" | "department_private";
export type Sharing = "none" | "subtree" | "all";

export interface Scope {
  kind: ScopeKind;
  id: string;
}

export interface Department {
  id: number;
  name: string;
  parent_id: number | null;
  region_prefix: string | null;
}

export interface User {
  id: number;
  username: string;
  display_name: string;
  department_id: number | null;
  roles: Role[];
  disabled: boolean;
}

export interface Grant {
  id: string;
  grantee_department_id: number | null;
  grantee_user_id: number | null;
  include_subdepartments: boolean;
  grantor_department_id: number;
  scope: Scope;
  actions: string[];
  masked_only: boolean;
  not_before: string;
  not_after: string;
  request_id: number | null;
  revoked_at: string | null;
}

export interface Approval {
  user_id: number;
  approve: boolean;
  comment: string;
  at: string;
}

export interface AccessRequest {
  id: number;
  requester_id: number;
  department_id: number;
  scopes: Scope[];
  actions: string[];
  masked_only: boolean;
  purpose: string;
  not_before: string;
  not_after: string;
  state: RequestState;
  approvals_needed: number;
  approvals: Approval[];
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  reason: string;
}

export interface Ownership {
  channel_id: string;
  department_id: number;
  classification: Classification;
  sharing: Sharing;
}

export interface Notification {
  id: number;
  kind: string;
  text: string;
  request_id: number | null;
  grant_id: string | null;
  created_at: string;
  read: boolean;
}

export interface Me {
  user_id: number;
  username: string;
  department: Department | null;
  roles: Role[];
  is_system_admin: boolean;
  /** Departments I administer; null: all of them (system admin). */
  administers: number[] | null;
  role_actions: string[];
  grants: Grant[];
  visible_channels: number | null;
}

export interface AuditRecord {
  seq: number;
  at: string;
  action: string;
  outcome: string;
  user: string | null;
  user_id: number | null;
  department: string | null;
  channel_id: string | null;
  address: string | null;
  purpose: string | null;
  detail: Record<string, unknown>;
  hash: string;
}

export interface AuditPage {
  items: AuditRecord[];
  limit: number;
  order: "asc" | "desc";
  next_cursor: number | null;
}

export interface KeySummary {
  key: string | null;
  total: number;
  actions: Record<string, number>;
}

export interface AuditSummary {
  by: "channel" | "department" | "user";
  items: KeySummary[];
}

export interface AuditVerify {
  ok: boolean;
  complete: boolean;
  records: number;
  anchors: number;
  head_seq: number;
  last_anchor_seq: number;
  unanchored: number;
  problem: { seq: number; kind: string; message: string } | null;
}

/** Unread notifications of the logged-in user (refreshed by the navigation bar). */
export const unread = ref<Notification[]>([]);

/** The logged-in user; null before the first answer or after logout. */
export const me = ref<Me | null>(null);
let meToken: string | null = null;

/** Fetch who is logged in (again when the session changed, or when ``force``). */
export async function loadMe(force = false): Promise<Me | null> {
  const token = getToken();
  if (!token) {
    me.value = null;
    meToken = null;
    return null;
  }
  if (!force && token === meToken && me.value) return me.value;
  if (token !== meToken) unread.value = []; // another session: not the last user's messages
  meToken = token;
  try {
    me.value = await get<Me>("/api/v1/me");
  } catch {
    me.value = null;
    meToken = null;
  }
  return me.value;
}

/** Who may see which of the access pages. */
export const rights = computed(() => {
  const who = me.value;
  const admin = who?.is_system_admin ?? false;
  const decides = admin || (who?.administers?.length ?? 0) > 0;
  return {
    system: admin,
    decides,
    grants: decides,
    admin: admin || (who?.roles.includes("department_admin") ?? false),
    audit: admin || (who?.roles.includes("auditor") ?? false),
  };
});

/** Fetch the unread notifications; quietly keeps the old list when the API fails. */
export async function loadUnread(): Promise<void> {
  if (!getToken()) {
    unread.value = [];
    return;
  }
  try {
    unread.value = await get<Notification[]>("/api/v1/notifications", {
      unread: true,
      limit: 50,
    });
  } catch {
    // The next poll tries again; a 401 has already sent the user to the login page.
  }
}

/** ``datetime-local`` input text for a time ``hours`` from now. */
export function localInput(hours = 0, from = new Date()): string {
  const at = new Date(from.getTime() + hours * 3_600_000);
  const pad = (n: number): string => String(n).padStart(2, "0");
  return (
    `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}` +
    `T${pad(at.getHours())}:${pad(at.getMinutes())}`
  );
}

/** ISO time (with zone) of a ``datetime-local`` input's text, or null when empty or invalid. */
export function isoOfInput(text: string): string | null {
  if (!text) return null;
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

/** Department names by ID, with their path from the root ("root / police / traffic"). */
export function departmentPaths(departments: Department[]): Map<number, string> {
  const byId = new Map(departments.map((d) => [d.id, d]));
  const paths = new Map<number, string>();
  const pathOf = (d: Department, depth = 0): string => {
    const known = paths.get(d.id);
    if (known !== undefined) return known;
    const parent = d.parent_id === null ? undefined : byId.get(d.parent_id);
    const text = parent && depth < 32 ? `${pathOf(parent, depth + 1)} / ${d.name}` : d.name;
    paths.set(d.id, text);
    return text;
  };
  for (const d of departments) pathOf(d);
  return paths;
}
