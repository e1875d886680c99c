/**
 * The HTTP server's defences below the routes: timeouts, connection-level errors in the shared
 * error shape, uploads answered before they ended (413, 401, …) drained before their socket
 * closes, `Expect: 100-continue` refused for a body that is too large, and logs that carry no
 * secrets.
 */
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from "fastify";
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import { Socket } from "node:net";
import type { Config } from "../config.js";
import { errorBody, errors, loggable, type DetailedError } from "../errors.js";

/**
 * How much of an upload answered early is still read, and for how long, so that the client reads
 * the answer: closing a socket with unread data makes the kernel send a reset, and a client still
 * uploading then loses the answer (EPIPE/ECONNRESET). Beyond these bounds the socket is cut.
 */
export const DRAIN_MAX_BYTES = 16 * 1024 * 1024;
export const DRAIN_MAX_MS = 10_000;
/** Headers must arrive within this (or the request timeout, if shorter): slow-header clients hold sockets. */
const HEADERS_TIMEOUT_MS = 10_000;

const draining = new WeakSet<Socket>();
const refusedContinue = new WeakSet<IncomingMessage>();

/** Node's timeouts: the whole request, its headers, and an idle keep-alive connection. */
export function serverOptions(config: Config): FastifyServerOptions & { http: object } {
  const requestTimeout = config.requestTimeoutMs;
  return {
    requestTimeout,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: {
      requestTimeout,
      headersTimeout: Math.min(requestTimeout, HEADERS_TIMEOUT_MS),
      // Node checks the two timeouts above only this often (default 30 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(requestTimeout / 4))),
    },
    // Shutdown answers in the shared shape instead (see installServerHooks).
    return503OnClosing: false,
    clientErrorHandler,
  };
}

/** Paths redacted in every log line: credentials, SQL parameters, subscribers' header values and secrets. */
const REDACT = [
  "req.headers.authorization",
  "req.headers.cookie",
  "*.authorization",
  "headers.*",
  "*.headers.*",
  "secret",
  "*.secret",
  "*.secrets",
  "*.signingSecrets",
  "*.secretKey",
  ...["err", "err.cause", "err.cause.cause"].flatMap((e) =>
    ["parameters", "params", "query", "args", "detail"].map((k) => `${e}.${k}`),
  ),
];

/** A request as logged: no query string (it is the client's data, and may hold what it should not). */
function serializeRequest(request: FastifyRequest): unknown {
  // Other objects logged under `req` pass as they are (the redaction still applies to them).
  if (typeof request?.url !== "string" || request.raw === undefined) return request;
  return {
    method: request.method,
    url: request.url.split("?")[0],
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/** The logger options every entry point shares, or `false` for none. */
export function loggerOptions(logger: boolean | object): boolean | object {
  if (logger === false) return false;
  return {
    ...(logger === true ? {} : logger),
    redact: { paths: REDACT, censor: "[redacted]" },
    serializers: { err: loggable, req: serializeRequest },
  };
}

type Level = "fatal" | "error" | "warn" | "info" | "debug" | "trace";
type Bindings = Parameters<FastifyBaseLogger["child"]>[0];
type PinoLevels = { isLevelEnabled(level: string): boolean };

/**
 * A request's logger that makes its pino child on its first line at an enabled level. Most
 * requests log nothing (ingest only its failures), and making the child runs the redaction over
 * its bindings: about a microsecond per request (bench/RESULTS.md, issue 13).
 */
class LazyChild {
  #made: FastifyBaseLogger | undefined;
  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
  ) {}
  get level(): string {
    return (this.#made ?? this.parent).level;
  }
  set level(level: string) {
    this.#child().level = level;
  }
  #child(): FastifyBaseLogger {
    return (this.#made ??= this.parent.child(this.bindings));
  }
  #log(level: Level, args: unknown[]): void {
    if ((this.parent as FastifyBaseLogger & PinoLevels).isLevelEnabled(level))
      (this.#child()[level] as (...a: unknown[]) => void)(...args);
  }
  child(bindings: Bindings, options?: object): FastifyBaseLogger {
    return this.#child().child(bindings, options);
  }
  fatal(...args: unknown[]): void {
    this.#log("fatal", args);
  }
  error(...args: unknown[]): void {
    this.#log("error", args);
  }
  warn(...args: unknown[]): void {
    this.#log("warn", args);
  }
  info(...args: unknown[]): void {
    this.#log("info", args);
  }
  debug(...args: unknown[]): void {
    this.#log("debug", args);
  }
  trace(...args: unknown[]): void {
    this.#log("trace", args);
  }
  silent(): void {}
}

/**
 * Each request's logger (`request.log`). Fastify passes options on every request (ingest's
 * `{ level: "warn" }`), and a pino child made with options rebuilds its formatters and level
 * methods. A parent per level is made once here instead, and each request gets a LazyChild of it.
 */
export function childLoggerFactory(): NonNullable<FastifyServerOptions["childLoggerFactory"]> {
  const parents = new WeakMap<FastifyBaseLogger, Map<string, FastifyBaseLogger>>();
  return (logger, bindings, options) => {
    // Without a logger (`logger: false`) Fastify's stand-in answers every child with itself.
    if (typeof (logger as Partial<PinoLevels>).isLevelEnabled !== "function") return logger.child(bindings, options);
    if (options.serializers !== undefined || options.redact !== undefined || options.msgPrefix !== undefined)
      return logger.child(bindings, options);
    const level = options.level;
    if (level === undefined || level === logger.level) return new LazyChild(logger, bindings) as never;
    let byLevel = parents.get(logger);
    if (byLevel === undefined) parents.set(logger, (byLevel = new Map()));
    let parent = byLevel.get(level);
    if (parent === undefined) byLevel.set(level, (parent = logger.child({}, { level })));
    return new LazyChild(parent, bindings) as never;
  };
}

/** The raw answer to a connection-level error: there is no request or reply to answer through. */
function rawAnswer(error: DetailedError): string {
  const body = JSON.stringify(errorBody(error));
  const status = error.statusCode ?? 400;
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/** Request timeouts, oversized headers and unparsable requests: answered in the shared shape, then closed. */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  // A draining socket was answered already; so was one whose answer has begun.
  if (!draining.has(socket) && socket.writable && inFlight?.headersSent !== true) {
    const error =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? new errors.RequestTimeout("the request was not received in time (BRAIN_REQUEST_TIMEOUT_MS)")
        : err.code === "HPE_HEADER_OVERFLOW"
          ? new errors.HeadersTooLarge()
          : new errors.InvalidRequest("malformed HTTP request");
    socket.write(rawAnswer(error));
  }
  socket.destroy();
}

/** Reads what is left of an upload whose answer was sent, within the drain bounds, then lets the socket be. */
function drain(req: IncomingMessage): void {
  if (req.complete || req.destroyed) return;
  const socket = req.socket;
  draining.add(socket);
  const start = socket.bytesRead;
  const deadline = Date.now() + DRAIN_MAX_MS;
  const stop = () => {
    clearInterval(timer);
    draining.delete(socket);
  };
  const timer = setInterval(() => {
    if (req.complete) return stop();
    if (socket.bytesRead - start <= DRAIN_MAX_BYTES && Date.now() < deadline) return;
    stop();
    socket.destroy();
  }, 50).unref();
  socket.once("close", stop);
  // Node reads the rest itself unless something consumed the body; the body parser may have stopped reading.
  req.resume();
}

/**
 * Hooks on every route (added before any route, 404 included): the shutdown answer, and the drain
 * of uploads answered early. A 100-continue request whose declared body is over the limit gets
 * its 413 before the client sends the body, and its connection closes (the body never comes).
 */
export function installServerHooks(app: FastifyInstance, bodyLimit: number): void {
  let closing = false;
  app.addHook("preClose", (done) => {
    closing = true;
    done();
  });
  app.addHook("onRequest", (_request, reply, done) => {
    if (!closing) return done();
    reply.code(503).header("retry-after", "5").header("connection", "close").send(errorBody(new errors.ShuttingDown()));
  });
  app.addHook("onSend", (request: FastifyRequest, reply: FastifyReply, payload, done) => {
    const req = request.raw;
    // Injected requests (app.inject) have no socket to drain; while shutting down, connections close.
    if (!req.complete && !closing && req.socket instanceof Socket && !refusedContinue.has(req)) {
      // The body parser asks to close on a 413; draining first keeps the connection in step instead.
      reply.removeHeader("connection");
      reply.raw.once("finish", () => drain(req));
    }
    done(null, payload);
  });
  app.server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    if (Number(req.headers["content-length"]) > bodyLimit) {
      refusedContinue.add(req);
      res.setHeader("connection", "close");
    } else {
      res.writeContinue();
    }
    app.server.emit("request", req, res);
  });
}
