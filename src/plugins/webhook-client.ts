import fp from "fastify-plugin";
import { WebhookClient } from "../delivery/webhook-client.js";

declare module "fastify" {
  interface FastifyInstance {
    /** The outgoing HTTP client of webhooks (dispatcher and redeliver share its connection pool). */
    webhooks: WebhookClient;
  }
}

/**
 * The webhook client. Its onClose runs after the dispatcher's (hooks run in reverse registration
 * order), so deliveries in flight at shutdown finish on an open pool.
 */
export default fp(
  async (app) => {
    const client = new WebhookClient(app.config.webhookAllowPrivate);
    app.decorate("webhooks", client);
    app.addHook("onClose", () => client.close());
  },
  { name: "webhook-client", fastify: "5.x" },
);
