"""Electronic transfer of requests between central authorities' instances; the protocol is
specified in docs/transfer-protocol.md, its conformance vectors are docs/transfer-vectors/.

Each instance hosts one authority (`MLA_INSTANCE_AUTHORITY`) and knows its peers (`Peer`: base
URL and published transfer keys). A message is a JSON payload signed as a JWS (ES256, the
sender's transfer signing key) and then encrypted as a JWE (RSA-OAEP-256 + A256GCM, the
receiver's current encryption key), both with python-jose.

- Sending: the transition that causes a message (`transmit`, or a status change listed in
  `data/status_sync.yaml`) writes it to the outbox in its own transaction (a lifecycle hook).
  `mla worker` delivers it (`run_delivery`): claims due messages, POSTs them to the peer's
  `/transfer/inbox`, and marks one delivered only on a receipt signed by the peer that names
  its message id and payload hash; otherwise it retries with exponential backoff and jitter.
  Messages about one request go out one at a time, in order.
- Receiving (`handle_inbound`): decrypt with any of our unretired encryption keys, verify the
  signature with the sender's recorded keys, check the receiver and the time window, store by
  message id (a duplicate gets the stored receipt again), create the requested-side request or
  apply the status, answer with a signed receipt. Rejections are audited, nothing else stays.

At-least-once delivery plus idempotent receipt gives an exactly-once effect. A retry is
sealed again (fresh time, current keys), so a message outlives outages longer than the
replay window and key rotations on either side.

Modules, each importing only those above it:

- `errors`: TransferRejected (an inbound message refused), DeliveryError (an attempt failed);
- `canonical`: the canonical JSON form (RFC 8785), the content hash and its rules, instants;
- `schemas`: the protocol's JSON Schemas, compiled once, and the problems they find;
- `keys`: our signing and encryption keys, the JWKS we publish, what a peer's JWK is for;
- `peers`: this instance's authority and identity, peers and their fetched keys;
- `envelope`: sealing (JWS inside JWE) and opening;
- `outbox`: messages written by transitions (`on_transition`), retry by hand;
- `inbox`: `receive` / `handle_inbound`, receipts, applying the other side's status;
- `delivery`: the delivery loop of `mla worker`;
- `log`: what travelled for one request, for the API.
"""
