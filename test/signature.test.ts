import t from "tap";
import { Webhook } from "standardwebhooks";
import { sign, signatureHeaders } from "../src/delivery/signature.js";

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

t.test("the signature matches the Standard Webhooks reference library", async (t) => {
  const body = '{"type":"mission.created"}';
  const at = new Date();
  const expected = new Webhook(secret).sign("1-0", at, body);
  t.equal(sign(secret, "1-0", Math.floor(at.getTime() / 1000), body), expected);
});

t.test("several secrets give a space-separated list, each verifiable on its own", async (t) => {
  const other = `whsec_${Buffer.alloc(24, 9).toString("base64")}`;
  const body = "{}";
  const headers = signatureHeaders([secret, other], "5-1", body);
  t.equal(headers["webhook-signature"]!.split(" ").length, 2);
  t.ok(new Webhook(secret).verify(body, headers));
  t.ok(new Webhook(other).verify(body, headers));
});
