/**
 * Before: a producer that posts a hand-built dictionary. It works, yet nothing checks the payload
 * before the gateway does, `meta` is copied by hand into every call, and a retry after a timeout
 * appends the event a second time: without an id the gateway cannot tell it is the same event.
 */
const response = await fetch(`${process.env["GATEWAY_URL"] ?? "http://127.0.0.1:8080"}/v1/events`, {
  method: "POST",
  headers: { authorization: `Bearer ${process.env["GATEWAY_TOKEN"]}`, "content-type": "application/json" },
  body: JSON.stringify({
    type: "mission.created",
    source: "mission_queue",
    payload: { mission_id: "m-42", title: "Survey sector 7", priority: "high" },
    meta: { schema_version: 1, producer: "mission_queue_manager", source_module: "missions" },
  }),
});
console.log(response.status, await response.text());
