// One module for every failure the agent reports: a base class and one subclass per failure,
// each with a stable `code` that logs and tests can match on (undici's lib/core/errors.js shape).

export class AgentError extends Error {
  readonly code: string = 'ERR_AGENT';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A command-line flag is unknown or its value is malformed. Exit status 2, as Go's flag package. */
export class FlagError extends AgentError {
  override readonly code = 'ERR_FLAG';
  constructor(readonly flag: string, message: string) {
    super(`flag -${flag}: ${message}`);
  }
}

/** An environment variable the agent reads has a value it does not accept. Exit status 2. */
export class EnvError extends AgentError {
  override readonly code = 'ERR_ENV';
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
  }
}

/** A configuration file is wrong; `source` is "file:line". */
export class ConfigError extends AgentError {
  override readonly code = 'ERR_CONFIG';
  constructor(readonly source: string, message: string) {
    super(`${source}: ${message}`);
  }
}

/** A forwarding loop was detected at start (CoreDNS `loop`). */
export class LoopError extends AgentError {
  override readonly code = 'ERR_LOOP';
}

/** NODELOCALDNS_UDP_IO=batch, but the batch UDP I/O addon did not load (the message says why). */
export class UdpIoUnavailableError extends AgentError {
  override readonly code = 'ERR_UDP_IO_UNAVAILABLE';
}

/** A listener could not bind its address. */
export class BindError extends AgentError {
  override readonly code = 'ERR_BIND';
}

/** Every upstream attempt for a query failed or the deadline passed. */
export class UpstreamError extends AgentError {
  override readonly code = 'ERR_UPSTREAM';
}

/** An upstream answer that does not belong to the query (ID or question mismatch). */
export class UpstreamMismatchError extends AgentError {
  override readonly code = 'ERR_UPSTREAM_MISMATCH';
}

/**
 * A name reached the end of its server block's plugins unanswered: CoreDNS ends the chain in
 * SERVFAIL with this text when `forward` does not take the name or the block has no `forward`.
 */
export class NoNextPluginError extends AgentError {
  override readonly code = 'ERR_NO_NEXT_PLUGIN';
  constructor(readonly plugin: string) {
    super(`plugin/${plugin}: no next plugin found`);
  }
}

/** Too many queries in flight upstream (`max_concurrent`). */
export class OverloadError extends AgentError {
  override readonly code = 'ERR_OVERLOAD';
}

/** Node setup (interface or iptables) failed; `errortype` is the metric label. */
/** A query pending upstream ended at once because the agent was over its memory budget; SERVFAIL. */
export class MemoryPressureError extends AgentError {
  override readonly code = 'ERR_MEMORY_PRESSURE';
}

export class SetupError extends AgentError {
  override readonly code = 'ERR_SETUP';
  constructor(readonly errortype: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** EndpointSlice discovery could not reach or read the Kubernetes API. */
export class DiscoveryError extends AgentError {
  override readonly code: string = 'ERR_DISCOVERY';
}

/** The API server no longer has the resource version a watch resumed from (HTTP 410): list again. */
export class WatchExpiredError extends DiscoveryError {
  override readonly code = 'ERR_WATCH_EXPIRED';
  constructor() {
    super('watch resource version expired (410 Gone)');
  }
}
