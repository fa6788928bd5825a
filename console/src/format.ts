// Small display helpers shared by the pages.

/** A server time (ISO-8601) in the browser's local time, or a dash. */
export function localTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
