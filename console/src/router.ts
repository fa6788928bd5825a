// Client-side routes; the server answers index.html for each of them.
import { createRouter, createWebHistory } from "vue-router";
import { getToken, setUnauthorizedHandler } from "./api";
import DevicesView from "./views/DevicesView.vue";
import DeviceView from "./views/DeviceView.vue";
import LoginView from "./views/LoginView.vue";
import MapView from "./views/MapView.vue";
import PlaybackView from "./views/PlaybackView.vue";
import WallView from "./views/WallView.vue";
import AdminView from "./views/AdminView.vue";
import AuditView from "./views/AuditView.vue";
import GrantsView from "./views/GrantsView.vue";
import RequestsView from "./views/RequestsView.vue";

export const router = createRouter({
  history: createWebHistory("/"),
  routes: [
    { path: "/", redirect: "/wall" },
    { path: "/login", name: "login", component: LoginView, meta: { public: true } },
    { path: "/wall", name: "wall", component: WallView },
    { path: "/map", name: "map", component: MapView },
    { path: "/devices", name: "devices", component: DevicesView },
    { path: "/devices/:id", name: "device", component: DeviceView, props: true },
    { path: "/playback", name: "playback", component: PlaybackView },
    { path: "/requests", name: "requests", component: RequestsView },
    { path: "/grants", name: "grants", component: GrantsView },
    { path: "/admin", name: "admin", component: AdminView },
    { path: "/audit", name: "audit", component: AuditView },
    { path: "/:rest(.*)*", redirect: "/wall" },
  ],
});

router.beforeEach((to) => {
  if (!to.meta.public && !getToken()) {
    return { name: "login", query: { next: to.fullPath } };
  }
  return true;
});

setUnauthorizedHandler(() => {
  const current = router.currentRoute.value;
  if (current.name !== "login") {
    void router.replace({ name: "login", query: { next: current.fullPath } });
  }
});
