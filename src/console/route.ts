import { useEffect, useState } from "preact/hooks";

/** The console's pages, addressed by the URL's hash so the gateway serves one document for all. */
export type Route =
  | { page: "subscribers" }
  | { page: "subscriber"; name: string }
  | { page: "events" }
  | { page: "event"; id: string }
  | { page: "event-types" };

export function parseRoute(hash: string): Route {
  const [page = "", arg] = hash.replace(/^#\/?/, "").split("/", 2);
  const value = arg === undefined || arg === "" ? undefined : decodeURIComponent(arg);
  if (page === "subscribers" && value !== undefined) return { page: "subscriber", name: value };
  if (page === "events" && value !== undefined) return { page: "event", id: value };
  if (page === "events") return { page: "events" };
  if (page === "event-types") return { page: "event-types" };
  return { page: "subscribers" };
}

export const href = {
  subscribers: "#/subscribers",
  subscriber: (name: string) => `#/subscribers/${encodeURIComponent(name)}`,
  events: "#/events",
  event: (id: string) => `#/events/${encodeURIComponent(id)}`,
  eventTypes: "#/event-types",
};

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return route;
}
