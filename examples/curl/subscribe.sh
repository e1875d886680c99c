#!/usr/bin/env bash
# Subscribes a webhook receiver to every mission.* event and prints the new subscriber. Its
# `secret` (whsec_…) is shown only in this answer (and on rotation): give it to the receiver as
# WEBHOOK_SECRET. Reads GATEWAY_URL, GATEWAY_ADMIN_TOKEN (admin scope), RECEIVER_URL and SUBSCRIBER.
set -euo pipefail
: "${GATEWAY_URL:=http://127.0.0.1:8080}" "${GATEWAY_ADMIN_TOKEN:?set GATEWAY_ADMIN_TOKEN to a token with the admin scope}"
: "${RECEIVER_URL:=http://127.0.0.1:9000/hooks/brain}" "${SUBSCRIBER:=mission-receiver}"

# max_in_flight 1: one request at a time, so a lifecycle arrives in stream order (retries aside).
curl -sS --fail-with-body -X POST "$GATEWAY_URL/v1/subscribers" -H "authorization: Bearer $GATEWAY_ADMIN_TOKEN" \
  -H 'content-type: application/json' -w '\n' -d '{
    "name": "'"$SUBSCRIBER"'", "url": "'"$RECEIVER_URL"'", "event_types": ["mission.*"], "max_in_flight": 1 }'
