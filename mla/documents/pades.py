"""PAdES signatures (ETSI EN 319 142-1, baseline B-B, or B-T where a time-stamping authority
is configured) of request documents, with pyHanko, and their validation.

The signature is visible: a block in the bottom margin of the last page (kept free by
mla.documents.pdf's page style) says who signed, for which authority, in which capacity and
when. The whole file is covered (`/ByteRange` up to the end), so changing any byte outside
the signature's own hex string breaks it."""

from __future__ import annotations

import io
import logging
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mla import settings
from mla.documents.certs import Signer
from mla.errors import Unavailable

FIELD = "MLA-Signature"
# x1, y1, x2, y2 in points from the bottom left of an A4 page: inside the 34 mm bottom
# margin, under the page number.
STAMP_BOX = (51, 10, 371, 78)
STAMP_FONT = "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"


@dataclass(frozen=True)
class Capacity:
    """What the visible block says besides the certificate."""

    authority: str
    approved_by: str | None
    reason: str
    location: str


# Scripts of the names the block shows: Latin (with extensions), Greek, Cyrillic, and
# general punctuation. Other scripts fall back to the font's .notdef glyph.
STAMP_RANGES = [*range(0x20, 0x250), *range(0x370, 0x530), *range(0x2000, 0x2070), 0x20AC]


@cache
def _stamp_font() -> str:
    """Noto Sans cut down once per process to the block's scripts: pyHanko subsets the
    block's font at every signature, and the whole font takes it a second."""
    from fontTools import subset

    if not Path(STAMP_FONT).exists():
        raise Unavailable("the signature block needs fonts-noto-core: apt-get install "
                          "fonts-noto-core")
    options = subset.Options(layout_features=["kern", "liga", "ccmp", "mark", "mkmk"],
                             name_IDs=["*"], notdef_outline=True, hinting=False)
    font = subset.load_font(STAMP_FONT, options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=STAMP_RANGES)
    subsetter.subset(font)
    folder = Path(tempfile.mkdtemp(prefix="mla-stamp-font-"))
    path = folder / "NotoSans-stamp.ttf"
    font.save(str(path))
    return str(path)


@cache
def _stamp_style() -> Any:
    from pyhanko import stamp
    from pyhanko.pdf_utils import layout, text
    from pyhanko.pdf_utils.font import opentype

    return stamp.TextStampStyle(
        stamp_text=("Digitally signed by: %(signer)s\n"
                    "For: %(authority)s, in its capacity as central authority\n"
                    "%(approved)s"
                    "Signed at: %(ts)s"),
        text_box_style=text.TextBoxStyle(
            font=opentype.GlyphAccumulatorFactory(_stamp_font()), font_size=7, leading=9),
        timestamp_format="%Y-%m-%d %H:%M:%S UTC",
        inner_content_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN, y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins(left=6, right=6)),
        border_width=1,
        background=None,
    )


def sign(pdf: bytes, signer: Signer, capacity: Capacity) -> bytes:
    """The PDF with one visible PAdES signature over the whole file, signed now (the
    signing time is this instance's clock, or the TSA's token where one is configured)."""
    from pyhanko.keys.internal import (
        translate_pyca_cryptography_cert_to_asn1,
        translate_pyca_cryptography_key_to_asn1,
    )
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers, timestamps
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    chain = [translate_pyca_cryptography_cert_to_asn1(c) for c in signer.chain]
    cms_signer = _signer_class()(
        signer.key,
        signing_cert=chain[0],
        signing_key=translate_pyca_cryptography_key_to_asn1(signer.key),
        cert_registry=SimpleCertificateStore.from_certs(chain[1:]))
    tsa = settings.get().signing_tsa_url
    timestamper = timestamps.HTTPTimeStamper(tsa) if tsa else None
    signer_name = chain[0].subject.native.get("common_name") or signer.certificate.subject
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
        reason=capacity.reason, location=capacity.location, name=str(signer_name))
    approved = (f"Approved by: {capacity.approved_by}, supervisor\n"
                if capacity.approved_by else "")
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    pdf_signer = signers.PdfSigner(
        meta, signer=cms_signer, timestamper=timestamper, stamp_style=_stamp_style(),
        new_field_spec=fields.SigFieldSpec(FIELD, on_page=-1, box=STAMP_BOX))
    out = io.BytesIO()
    pdf_signer.sign_pdf(
        writer, output=out,
        appearance_text_params={"signer": str(signer_name), "authority": capacity.authority,
                                "approved": approved})
    return out.getvalue()


@cache
def _signer_class() -> type:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from pyhanko.sign import signers
    from pyhanko_certvalidator.util import get_pyca_cryptography_hash

    class OpenedKeySigner(signers.SimpleSigner):  # type: ignore[misc]
        """pyHanko's SimpleSigner parses and checks the private key again at every
        signature (twice per PDF: the size estimate, then the signature); this one signs
        with the key mla.documents.certs opened and checked once."""

        def __init__(self, key: Any, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._key = key

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            hash_algo = get_pyca_cryptography_hash(digest_algorithm)
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
            name = mechanism["algorithm"].native
            if isinstance(self._key, ec.EllipticCurvePrivateKey):
                return bytes(self._key.sign(data, ec.ECDSA(hash_algo)))
            if "pss" in name:  # not chosen unless asked; keep pyHanko's handling
                return bytes(super().sign_raw(data, digest_algorithm))
            return bytes(self._key.sign(data, PKCS1v15(), hash_algo))

    return OpenedKeySigner


@cache
def _quiet() -> None:
    # pyHanko logs every untrusted chain with a traceback; the result says it, once.
    logging.getLogger("pyhanko.sign.validation").setLevel(logging.CRITICAL)


def _trust_roots() -> list[Any]:
    from asn1crypto import pem, x509

    path = settings.get().signing_trust_anchors
    if not path:
        return []
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise Unavailable(f"MLA_SIGNING_TRUST_ANCHORS={path}: {exc.strerror}") from None
    if not pem.detect(data):
        return [x509.Certificate.load(data)]
    return [x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]


def _name(cert: Any) -> str:
    return str(cert.subject.human_friendly)[:500]


def validate(pdf: bytes, *, extra_trust: list[Any] | None = None) -> dict[str, Any]:
    """What the signatures of a PDF prove, as a plain dict kept with the document:
    `status` is valid (intact, covers the file, signer chained to a trust anchor), untrusted
    (intact and covering, but no chain to an anchor), invalid (altered, broken, or changed
    after signing beyond what the signature allowed) or unsigned."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    config = settings.get()
    _quiet()
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = list(reader.embedded_signatures)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        return {"status": "invalid", "summary": f"not a readable PDF: {exc}"[:300],
                "signatures": []}
    if not embedded:
        return {"status": "unsigned", "summary": "the PDF carries no signature",
                "signatures": []}
    context = ValidationContext(
        trust_roots=[*_trust_roots(), *(extra_trust or [])],
        allow_fetching=config.signing_fetch_revocation, revocation_mode="soft-fail")
    results = []
    for sig in embedded:
        entry: dict[str, Any] = {"field": sig.field_name}
        try:
            status = validate_pdf_signature(sig, context)
        except (SignatureValidationError, PdfError, ValueError) as exc:
            entry.update(intact=False, valid=False, trusted=False,
                         error=f"{type(exc).__name__}: {exc}"[:300])
            results.append(entry)
            continue
        covers_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        later_ok = covers_file or bool(status.docmdp_ok)
        revocation = status.revocation_details
        entry.update(
            intact=bool(status.intact), valid=bool(status.valid),
            trusted=bool(status.trusted), covers_whole_file=covers_file,
            changed_after_signing_allowed=later_ok,
            signer=_name(status.signing_cert),
            issuer=str(status.signing_cert.issuer.human_friendly)[:500],
            serial=format(status.signing_cert.serial_number, "x"),
            signed_at=status.signer_reported_dt.isoformat()
            if status.signer_reported_dt else None,
            timestamp=status.timestamp_validity.timestamp.isoformat()
            if status.timestamp_validity else None,
            revoked=revocation is not None,
            revocation_checked=config.signing_fetch_revocation,
            summary=status.summary(),
        )
        results.append(entry)
    broken = [r for r in results if not (r.get("intact") and r.get("valid")
                                         and r.get("changed_after_signing_allowed"))
              or r.get("revoked")]
    if broken:
        first = broken[0]
        why = first.get("error") or (
            "the signed content was altered" if not first.get("intact")
            else "the signature does not verify" if not first.get("valid")
            else "the signer's certificate is revoked" if first.get("revoked")
            else "the file was changed after it was signed")
        status_text, summary = "invalid", f"{first.get('field')}: {why}"
    elif all(r["trusted"] for r in results):
        status_text, summary = "valid", f"signed by {results[-1]['signer']}"
    else:
        status_text = "untrusted"
        summary = (f"intact, but {results[-1]['signer']} does not chain to a trust anchor "
                   f"(MLA_SIGNING_TRUST_ANCHORS)")
    return {"status": status_text, "summary": summary, "signatures": results}
