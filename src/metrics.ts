import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The Prometheus metrics one worker exposes on /metrics. */
export class Metrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({ name: 'chatfabric_connections', help: 'Open client connections on this worker', registers: [this.registry] });
  readonly rooms = new Gauge({ name: 'chatfabric_rooms', help: 'Rooms with at least one member on this worker', registers: [this.registry] });
  readonly messagesIn = new Counter({
    name: 'chatfabric_messages_in_total',
    help: 'Frames received from clients, by request kind (or "invalid")',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly messagesOut = new Counter({
    name: 'chatfabric_messages_out_total',
    help: 'Frames sent to clients',
    registers: [this.registry],
  });
  readonly published = new Counter({
    name: 'chatfabric_broker_published_total',
    help: 'Events this worker published on the broker, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly brokerDropped = new Counter({
    name: 'chatfabric_broker_events_dropped_total',
    help: 'Events from the broker dropped instead of handled (too_large, bad_json, invalid, handler_error), by reason and source (room subject or worker route)',
    labelNames: ['reason', 'source'] as const,
    registers: [this.registry],
  });
  readonly deliveryLatency = new Histogram({
    name: 'chatfabric_delivery_latency_seconds',
    help: 'Time from a chat message being accepted by any worker to its fan-out on this worker',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'chatfabric_client_errors_total',
    help: 'Error frames sent to clients, by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly closes = new Counter({
    name: 'chatfabric_closes_total',
    help: 'Connections closed by the server, by close code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly authRefusals = new Counter({
    name: 'chatfabric_auth_refusals_total',
    help: 'Upgrades refused for their credentials or origin: missing_token, invalid_token, wrong_user, origin',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly natsConnected = new Gauge({ name: 'chatfabric_nats_connected', help: '1 when NATS is connected', registers: [this.registry] });
  readonly redisConnected = new Gauge({ name: 'chatfabric_redis_connected', help: '1 when Redis is connected', registers: [this.registry] });
  readonly degraded = new Counter({
    name: 'chatfabric_degraded_operations_total',
    help: 'Presence or history operations that failed because Redis was unavailable',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  readonly addressLimitRefusals = new Counter({
    name: 'chatfabric_address_limit_refusals_total',
    help: 'WebSocket upgrades refused with 429 by a per-address limit: handshake_rate or connections',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  constructor(labels: Record<string, string> = {}) {
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry, prefix: 'chatfabric_process_' });
  }
}
