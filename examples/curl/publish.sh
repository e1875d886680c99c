#!/usr/bin/env bash
# Publishing with curl: one event, a batch, a retry under an Idempotency-Key, and an envelope the
# gateway refuses. Reads GATEWAY_URL and GATEWAY_TOKEN (a token with the publish scope).
set -euo pipefail
: "${GATEWAY_URL:=http://127.0.0.1:8080}" "${GATEWAY_TOKEN:?set GATEWAY_TOKEN to a token with the publish scope}"

# POSTs $2 to path $1 and prints the answer and its status; more curl arguments may follow (a later -w wins).
post() {
  curl -sS -X POST "$GATEWAY_URL$1" -H "authorization: Bearer $GATEWAY_TOKEN" -H 'content-type: application/json' \
    -d "$2" -w ' → %{http_code}\n' "${@:3}"
}
meta='"meta": { "schema_version": 1, "producer": "mission_queue_manager", "source_module": "missions" }'

echo "one event; the gateway assigns the id (a UUIDv7) and the timestamp:"
post /v1/events '{ "type": "mission.created", "source": "mission_queue",
  "payload": { "mission_id": "m-42", "title": "Survey sector 7" }, '"$meta"' }'

echo "a batch, appended atomically and in order:"
post /v1/events/batch '{ "events": [
  { "type": "mission.started", "source": "mission_queue", "payload": { "mission_id": "m-42" }, '"$meta"' },
  { "type": "mission.completed", "source": "mission_queue", "payload": { "mission_id": "m-42" }, '"$meta"' } ] }'

# A key names one logical event for 24 hours; the same key again is answered with the original result.
key="mission-m-43-created-$(date +%s%N)"
event='{ "type": "mission.created", "source": "mission_queue", "payload": { "mission_id": "m-43" }, '"$meta"' }'
echo "sent under an Idempotency-Key, then again as a retry would (200, Idempotent-Replayed: true):"
post /v1/events "$event" -H "idempotency-key: $key"
post /v1/events "$event" -H "idempotency-key: $key" -w ' → %{http_code}, idempotent-replayed: %header{idempotent-replayed}\n'

echo "an envelope without meta.source_module is refused, naming the problem, and nothing is written:"
post /v1/events '{ "type": "mission.created", "source": "mission_queue", "payload": { "mission_id": "m-44" },
  "meta": { "schema_version": 1, "producer": "mission_queue_manager" } }'
