/** What a request to the gateway carries: the standard event envelope and the bearer header. */

/** The standard Charter envelope used across tests; override what a test is about. */
export function envelope(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: "mission.created",
    source: "mission_queue",
    payload: { mission_id: "m-42" },
    meta: { schema_version: 1, producer: "mission_queue_manager", source_module: "missions" },
    ...over,
  };
}

export const auth = (token: string) => ({ authorization: `Bearer ${token}` });
