import t from "tap";
import { buildApp } from "./helpers/app.js";
import { PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

t.test("an accepted event is appended to the stream", async (t) => {
  const { app, config } = await buildApp(t);
  const res = await app.inject({
    method: "POST",
    url: "/v1/events",
    headers: auth(PUBLISH_TOKEN),
    payload: envelope(),
  });
  t.equal(res.statusCode, 202);
  const { stream_message_id } = res.json();
  const entries = await app.redis.xrange(config.stream, "-", "+");
  t.same(
    entries.map((e) => e[0]),
    [stream_message_id],
  );
});
