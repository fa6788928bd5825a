// Shapes of the REST API's answers (see /api/v1/openapi.json).

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export interface Channel {
  id: string;
  device_id: string;
  name: string;
  online: boolean;
  status: string;
  device_online: boolean;
  manufacturer: string | null;
  model: string | null;
  civil_code: string | null;
  address: string | null;
  parent_id: string | null;
  business_group_id: string | null;
  longitude: number | null;
  latitude: number | null;
  ptz_type: number | null;
}

export interface Device {
  id: string;
  name: string;
  online: boolean;
  manufacturer: string;
  model: string;
  firmware: string;
  transport: string;
  gb_version: string;
  channel_count: number;
  last_seen: string | null;
  registered_at: string | null;
  remote: string | null;
}

export interface Region {
  code: string;
  name: string;
  named: boolean;
  level: string;
  channel_count: number;
  total_channels: number;
  children: Region[];
}

export interface Group {
  id: string;
  kind: string;
  name: string;
  business_group_id: string | null;
  channel_count: number;
  children: Group[];
}

export interface LiveOut {
  channel_id: string;
  urls: { ws: string; http: string; rtsp: string | null };
  token: string;
  expires_at: string;
  session_id?: string;
}

export type Splits = 1 | 4 | 9 | 16;

export interface WallLayout {
  splits: Splits;
  tiles: (string | null)[];
}

export interface Preferences {
  wall: WallLayout;
  updated_at?: string | null;
}

export interface UiConfig {
  map_tile_url: string;
  map_attribution: string;
  map_max_zoom: number;
}

export interface RecordSegment {
  channel_id: string;
  start: string;
  end: string;
  source: string;
  size_bytes: number | null;
  kind: string | null;
}

export interface DownloadState {
  download_id: string;
  /** running, done or failed */
  state: string;
  /** 0 to 1; absent in the first answer */
  progress?: number;
  error?: string | null;
}

/** True when a channel can be expected to play: catalog status ON and its device alive. */
export function isLive(channel: Channel): boolean {
  return channel.online && channel.device_online;
}
