// An independent implementation's view of the transfer protocol (docs/transfer-protocol.md),
// written from the specification with the `jose` library and the RFC 8785 reference
// `canonicalize`, no Python involved:
//
//   node check.mjs verify VECTORS_DIR   every vector: canonical forms, JWK Set entries,
//                                       envelopes opened, signatures, hashes, receipts
//   node check.mjs build VECTORS_DIR    envelopes of the vector payloads, signed with FR's
//                                       vector key and sealed to KE's (JSON on stdout)
//   node check.mjs receipts VECTORS_DIR reads [{receipt, payload}] on stdin: each receipt
//                                       verifies with KE's key and echoes the payload's hash
//
// Exit status 0 when everything holds; one line per failure on stderr otherwise.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import * as jose from 'jose';

const [mode, dir] = process.argv.slice(2);
const load = (name) => JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
const sha256 = (text) => createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex');
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); };

const keys = load('keys');
const FR_SIG = keys['FR-MJ'].sig;
const KE_SIG = keys['KE-ODPP'].sig;
const KE_ENC = keys['KE-ODPP'].enc;
const publicOf = ({ d, p, q, dp, dq, qi, ...rest }) => rest;

// §7.1: SHA-256 of the RFC 8785 form of the payload without `sent_at`.
function contentHash(payload) {
  const { sent_at: _ignored, ...content } = payload;
  return sha256(canonicalize(content));
}

// §3.2: what a JWK Set entry is for, from kty/crv when `use` and `alg` are absent.
function transferUse(key) {
  if (typeof key.kid !== 'string' || key.kid === '' || 'd' in key) return null;
  const kinds = { sig: ['EC', 'P-256', 'ES256', 'verify'], enc: ['RSA', null, 'RSA-OAEP-256', 'wrapKey'] };
  for (const [use, [kty, crv, alg, op]] of Object.entries(kinds)) {
    if (key.kty !== kty || (crv !== null && key.crv !== crv)) continue;
    if ((key.use ?? use) === use && (key.alg ?? alg) === alg
        && (key.key_ops === undefined || key.key_ops.includes(op))) return use;
  }
  return null;
}

async function verifyReceipt(receipt, expected, what) {
  const header = jose.decodeProtectedHeader(receipt);
  check(header.alg === 'ES256' && header.typ === 'mla-receipt+jws' && header.kid === KE_SIG.kid,
    `${what}: receipt header ${JSON.stringify(header)}`);
  const { payload } = await jose.compactVerify(receipt, await jose.importJWK(publicOf(KE_SIG), 'ES256'));
  const claims = JSON.parse(new TextDecoder().decode(payload));
  for (const [name, value] of Object.entries(expected)) {
    check(claims[name] === value, `${what}: receipt ${name} ${claims[name]} != ${value}`);
  }
  return claims;
}

async function verify() {
  for (const c of load('canonical').cases) {
    const form = canonicalize(JSON.parse(c.json));
    check(form === c.canonical, `canonical ${c.name}: ${form}`);
    check(sha256(form) === c.sha256, `canonical ${c.name}: sha256`);
  }
  for (const c of load('jwks').cases) {
    check(transferUse(c.jwk) === c.transfer_use, `jwks ${c.name}: ${transferUse(c.jwk)}`);
  }
  const encKey = await jose.importJWK(KE_ENC, 'RSA-OAEP-256');
  const frKey = await jose.importJWK(publicOf(FR_SIG), 'ES256');
  for (const m of load('messages').messages.filter((x) => x.payload)) {
    const { plaintext, protectedHeader } = await jose.compactDecrypt(m.envelope, encKey);
    check(protectedHeader.alg === 'RSA-OAEP-256' && protectedHeader.enc === 'A256GCM'
      && protectedHeader.kid === KE_ENC.kid && !('zip' in protectedHeader),
    `${m.name}: JWE header ${JSON.stringify(protectedHeader)}`);
    const signed = new TextDecoder().decode(plaintext);
    check(signed === m.jws, `${m.name}: the JWE does not hold the vector's JWS`);
    const inner = await jose.compactVerify(signed, frKey);
    check(inner.protectedHeader.typ === 'mla-transfer+jws' && inner.protectedHeader.kid === FR_SIG.kid,
      `${m.name}: JWS header ${JSON.stringify(inner.protectedHeader)}`);
    const payload = JSON.parse(new TextDecoder().decode(inner.payload));
    const { sent_at: _s, ...content } = payload;
    check(canonicalize(content) === m.canonical_content, `${m.name}: canonical content`);
    check(contentHash(payload) === m.payload_sha256_jcs, `${m.name}: JCS hash`);
    const expected = m.expect.receipt;
    check(expected.payload_sha256 === (payload.hash === 'sha256-jcs' ? m.payload_sha256_jcs
      : m.payload_sha256_legacy), `${m.name}: expected receipt hash`);
    await verifyReceipt(m.receipt_jws, expected, m.name);
  }
  // Refusals this side can see without a receiver: compression and algorithms.
  for (const r of load('refusals').refusals) {
    if (r.reason !== 'unsupported' || r.name.startsWith('jws-') || r.name === 'wrong-jws-typ') continue;
    const header = jose.decodeProtectedHeader(r.envelope);
    check('zip' in header || header.alg !== 'RSA-OAEP-256', `${r.name}: should be unsupported`);
  }
}

async function build() {
  const signing = await jose.importJWK(FR_SIG, 'ES256');
  const target = await jose.importJWK(publicOf(KE_ENC), 'RSA-OAEP-256');
  const out = [];
  for (const m of load('messages').messages.filter((x) => x.payload && x.payload.hash)) {
    const jws = await new jose.CompactSign(new TextEncoder().encode(canonicalize(m.payload)))
      .setProtectedHeader({ alg: 'ES256', kid: FR_SIG.kid, typ: 'mla-transfer+jws' })
      .sign(signing);
    const envelope = await new jose.CompactEncrypt(new TextEncoder().encode(jws))
      .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: KE_ENC.kid })
      .encrypt(target);
    out.push({ name: m.name, now: m.now, envelope, payload_sha256: contentHash(m.payload) });
  }
  process.stdout.write(JSON.stringify(out));
}

async function receipts() {
  const items = JSON.parse(readFileSync(0, 'utf8'));
  for (const [i, { receipt, payload }] of items.entries()) {
    await verifyReceipt(receipt, {
      message_id: payload.message_id, sender: payload.sender, receiver: payload.receiver,
      payload_sha256: contentHash(payload), hash: 'sha256-jcs',
    }, `receipt ${i}`);
  }
  console.log(`${items.length} receipts verified`);
}

const modes = { verify, build, receipts };
if (!modes[mode] || !dir) {
  console.error('usage: node check.mjs verify|build|receipts VECTORS_DIR');
  process.exit(2);
}
try {
  await modes[mode]();
} catch (error) {
  failures.push(`${error.name}: ${error.message}`);
}
if (failures.length) {
  for (const f of failures) console.error(f);
  process.exit(1);
}
if (mode === 'verify') console.log('all vectors hold');
