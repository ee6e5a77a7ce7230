"""Render and sign a 10-page request, against a baseline doing the same work bare.

Ours: `mla.documents.service.signed_pdf` on a request in a migrated SQLite database: the
HTML document, WeasyPrint with the page style and Noto fonts, the key decrypted, a visible
PAdES signature block, the audit entry. Baseline, in the same run and on the same HTML:
`weasyprint.HTML(string=html).write_pdf()` and a pyHanko invisible PAdES signature with the
same key. Prints the medians, their ratio (target: ours < 1 s; the ratio says what the
engine adds), the PDF's pages and size, and memory (peak Python allocations of one run,
and the process's maximum RSS).

    python -m bench.pdf [--runs 5] [--language en]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from mla import db, hooks, templates
from mla.directory import service as directory
from mla.documents import certs
from mla.documents import service as document_service
from mla.requests import documents, filing, lifecycle


def _ten_page_form() -> dict:
    form = templates.example("mla.evidence")
    # The facts grow until the document runs to ten A4 pages (checked below).
    form["facts_summary"] = "\n\n".join([form["facts_summary"]] * 15)
    return form


def _setup(folder: Path, language: str):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{folder / 'bench.db'}"
    db.upgrade(url)
    hooks.install()
    engine = db.make_engine(url)
    session = db.session_factory(engine)()
    fr = directory.add_authority(session, code="FR-MJ", country="FR",
                                 name="Ministère de la Justice", timezone="Europe/Paris",
                                 languages=["fr", "en"])
    ke = directory.add_authority(session, code="KE-ODPP", country="KE", name="ODPP",
                                 timezone="Africa/Nairobi", languages=["en"])
    officer = directory.add_user(session, fr, username="officer", full_name="Claire Morel",
                                 role="officer")
    supervisor = directory.add_user(session, fr, username="supervisor",
                                    full_name="Paul Durand", role="supervisor")
    certs.self_signed(session, fr)
    request = filing.file_request(session, officer, kind="mla.evidence",
                                  requested_authority_id=ke.id, legal_basis="untoc",
                                  title="Bench", language=language, data=_ten_page_form())
    lifecycle.transition(session, request, "submit", officer)
    lifecycle.transition(session, request, "approve", supervisor)
    session.commit()
    return engine, session, request, officer


def _median(fn: Callable[[], bytes], runs: int) -> tuple[float, bytes]:
    fn()  # warm: imports, fonts, the signature block's font
    times, out = [], b""
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _pages(pdf: bytes) -> int:
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True).stdout.decode()
    return int(info.split("Pages:")[1].split()[0]) if "Pages:" in info else -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--language", default="en")
    args = parser.parse_args()
    os.environ.setdefault("MLA_SIGNING_KEY_PASSPHRASE", "bench passphrase")
    with tempfile.TemporaryDirectory() as folder:
        engine, session, request, officer = _setup(Path(folder), args.language)
        html, _ = documents.render(session, request)
        row = certs.current(session, request.requesting_authority_id)
        assert row is not None
        signer = certs.open_signer(row)

        def ours() -> bytes:
            made = document_service.signed_pdf(session, request, actor=officer,
                                               purpose="bench")
            session.commit()
            return made.content

        def baseline() -> bytes:
            import weasyprint
            from pyhanko.keys.internal import (
                translate_pyca_cryptography_cert_to_asn1,
                translate_pyca_cryptography_key_to_asn1,
            )
            from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
            from pyhanko.sign import fields, signers
            from pyhanko_certvalidator.registry import SimpleCertificateStore

            pdf = weasyprint.HTML(string=html).write_pdf()
            cms = signers.SimpleSigner(
                signing_cert=translate_pyca_cryptography_cert_to_asn1(signer.chain[0]),
                signing_key=translate_pyca_cryptography_key_to_asn1(signer.key),
                cert_registry=SimpleCertificateStore())
            out = io.BytesIO()
            signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)),
                             signers.PdfSignatureMetadata(
                                 field_name="Sig", md_algorithm="sha256",
                                 subfilter=fields.SigSeedSubFilter.PADES),
                             signer=cms, output=out)
            return out.getvalue()

        base_time, base_pdf = _median(baseline, args.runs)
        our_time, our_pdf = _median(ours, args.runs)
        tracemalloc.start()
        ours()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        session.close()
        engine.dispose()
    pages = _pages(our_pdf)
    print(f"request document, {args.language}: {pages} pages, {len(our_pdf) / 1024:.0f} KiB "
          f"signed (baseline {_pages(base_pdf)} pages, {len(base_pdf) / 1024:.0f} KiB)")
    print(f"render + sign, median of {args.runs}: ours {our_time:.3f} s, baseline "
          f"{base_time:.3f} s, ratio {our_time / base_time:.2f}")
    print(f"target < 1 s for 10 pages: {'met' if our_time < 1 and pages >= 10 else 'NOT met'}")
    print(f"memory: peak Python allocations of one render + sign {peak / 2**20:.1f} MiB, "
          f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
