#!/usr/bin/env bash
# The event-type registry with curl: register a type's payload schema, list the registered types,
# publish a payload that does not match (refused before anything is written), delete the type.
# Reads GATEWAY_URL, GATEWAY_ADMIN_TOKEN (admin scope) and GATEWAY_TOKEN (publish scope).
set -euo pipefail
: "${GATEWAY_URL:=http://127.0.0.1:8080}" "${GATEWAY_ADMIN_TOKEN:?set GATEWAY_ADMIN_TOKEN}" "${GATEWAY_TOKEN:?set GATEWAY_TOKEN}"

# Calls method $1 on path $2 with the admin token (more curl arguments after them).
admin() {
  curl -sS -X "$1" "$GATEWAY_URL$2" -H "authorization: Bearer $GATEWAY_ADMIN_TOKEN" "${@:3}" -w ' → %{http_code}\n'
}

echo "register robot.moved with the JSON Schema (2020-12) of its payload:"
admin PUT /v1/event-types/robot.moved -H 'content-type: application/json' -d '{
  "description": "A robot reached a new position on the site map.",
  "schema": { "type": "object", "required": ["robot_id", "x", "y"],
    "properties": { "robot_id": { "type": "string", "minLength": 1 }, "x": { "type": "number" }, "y": { "type": "number" } } } }'

echo "the registered types:"
admin GET /v1/event-types

echo "a payload without robot_id is refused with 400 PAYLOAD_SCHEMA_MISMATCH, naming /payload/robot_id:"
curl -sS -X POST "$GATEWAY_URL/v1/events" -H "authorization: Bearer $GATEWAY_TOKEN" -H 'content-type: application/json' \
  -w ' → %{http_code}\n' -d '{ "type": "robot.moved", "source": "site_map", "payload": { "x": 1.5, "y": 2 },
  "meta": { "schema_version": 1, "producer": "site_tracker", "source_module": "positions" } }'

echo "delete it again: robot.moved payloads are no longer checked"
admin DELETE /v1/event-types/robot.moved
