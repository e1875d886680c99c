"""A webhook receiver for one subscriber, in Python: verifies every delivery's Standard Webhooks
signature with the `standardwebhooks` package and prints the event. Reads WEBHOOK_SECRET (the
subscriber's `whsec_...`), PORT (default 9000) and HOST (default 127.0.0.1); stops after EXIT_AFTER
events when that is set."""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])
port = int(os.environ.get("PORT", "9000"))
host = os.environ.get("HOST", "127.0.0.1")
exit_after = int(os.environ.get("EXIT_AFTER", "0"))
# Delivery is at least once, and a repeat carries the same webhook-id (the stream message id). A real
# receiver records the ids it handled in the same transaction as the work they caused.
handled = set()


def receive(body, headers):
    """The status to answer: 2xx is done, 401 and other 4xx are permanent (a dead letter), 5xx is retried."""
    try:
        # The signature covers the body's exact bytes, so it is checked before anything parses them.
        event = webhook.verify(body, headers)
    except (WebhookVerificationError, ValueError) as error:
        # The library raises ValueError, not its own error, for a signature header it cannot split.
        print(f"rejected: {error}", flush=True)
        return 401
    msg_id = headers["webhook-id"]
    if msg_id in handled:
        print(f"duplicate {msg_id} ignored", flush=True)
        return 204
    handled.add(msg_id)
    payload = json.dumps(event["payload"], separators=(",", ":"), ensure_ascii=False)
    attempt = headers.get("x-brain-attempt")
    print(f"verified {msg_id} {event['type']} {payload} (attempt {attempt})", flush=True)
    return 204


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.send_response(receive(body, headers))
        self.end_headers()

    def log_message(self, format, *args):
        pass  # the verified events are the output, not an access log


server = HTTPServer((host, port), Receiver)
print(f"listening on http://{host}:{server.server_address[1]}", flush=True)
try:
    while exit_after == 0 or len(handled) < exit_after:
        server.handle_request()
except KeyboardInterrupt:
    pass
server.server_close()
