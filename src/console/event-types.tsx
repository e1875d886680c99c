import { api } from "./api.js";
import { Sparkline } from "./charts.js";
import type { EventTypeInfo, TypeVolume } from "./types.js";
import { count, ErrorNote, Json } from "./ui.js";
import { useLoad } from "./use-load.js";

export function EventTypesPage() {
  const registry = useLoad(() => api<{ event_types: EventTypeInfo[] }>("GET", "/v1/event-types"), "types", 30_000);
  const volume = useLoad(() => api<TypeVolume>("GET", "/v1/activity/event-types?minutes=60"), "volume", 15_000);
  const byType = new Map((volume.data?.types ?? []).map((v) => [v.type, v]));
  const registered = new Set((registry.data?.event_types ?? []).map((t) => t.type));
  const unregistered = (volume.data?.types ?? []).filter((v) => !registered.has(v.type));
  return (
    <>
      <h1>Event types</h1>
      <ErrorNote error={registry.error} />
      <ErrorNote error={volume.error} />
      <table class="grid">
        <caption>The registry, with each type's accepted events in the last hour</caption>
        <thead>
          <tr>
            <th scope="col">Type</th>
            <th scope="col">Description</th>
            <th scope="col">Deprecated</th>
            <th scope="col">Last hour</th>
            <th scope="col">Per minute</th>
            <th scope="col">Schema</th>
          </tr>
        </thead>
        <tbody>
          {(registry.data?.event_types ?? []).map((t) => {
            const v = byType.get(t.type);
            return (
              <tr key={t.type}>
                <td class="mono">{t.type}</td>
                <td>{t.description}</td>
                <td>{t.deprecated ? "yes" : "no"}</td>
                <td class="num">{count(v?.total ?? 0)}</td>
                <td>
                  <Sparkline values={(v?.minutes ?? []).map((m) => m.count)} label={`${t.type}: events per minute`} />
                </td>
                <td>
                  <details>
                    <summary>Schema</summary>
                    <Json value={t.schema} label={`Schema of ${t.type}`} />
                  </details>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {registry.data !== undefined && registry.data.event_types.length === 0 && <p>No registered event types.</p>}
      {unregistered.length > 0 && (
        <table class="grid">
          <caption>Types seen in the last hour that the registry does not hold</caption>
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">Last hour</th>
              <th scope="col">Per minute</th>
            </tr>
          </thead>
          <tbody>
            {unregistered.map((v) => (
              <tr key={v.type}>
                <td class="mono">{v.type}</td>
                <td class="num">{count(v.total)}</td>
                <td>
                  <Sparkline values={v.minutes.map((m) => m.count)} label={`${v.type}: events per minute`} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
