"""The service-account RSA key pair the apiserver signs tokens with.

``openssl`` makes it when present; otherwise a small stdlib-only generator does, so the
test cluster does not depend on openssl being installed.
"""

from __future__ import annotations

import base64
import math
import os
import secrets
import shutil
import subprocess
from pathlib import Path

_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2))]
_RSA_OID = bytes.fromhex("06092a864886f70d010101")  # 1.2.840.113549.1.1.1 rsaEncryption


def generate_key_pair(private_path: Path, public_path: Path, bits: int = 2048) -> None:
    """Write a PEM private key and its PEM (PKIX) public key."""
    openssl = shutil.which("openssl")
    if openssl:
        _run([openssl, "genrsa", "-out", str(private_path), str(bits)])
        _run([openssl, "rsa", "-in", str(private_path), "-pubout", "-out", str(public_path)])
    else:
        private_pem, public_pem = rsa_pem_pair(bits)
        _write_private(private_path, private_pem)
        public_path.write_text(public_pem)
    os.chmod(private_path, 0o600)


def _run(argv: list[str]) -> None:
    res = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed: {res.stderr.strip()}")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------
# Pure-Python fallback: RSA key generation and DER/PEM encoding
# ---------------------------------------------------------------------------------------


def is_probable_prime(n: int, rounds: int = 40) -> bool:
    if n < 2:
        return False
    for p in [2, *_SMALL_PRIMES]:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        a = secrets.randbelow(n - 3) + 2
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _random_prime(bits: int, e: int) -> int:
    while True:
        # Top two bits set so p*q has exactly 2*bits bits.
        candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if math.gcd(candidate - 1, e) == 1 and is_probable_prime(candidate):
            return candidate


def rsa_numbers(bits: int = 2048, e: int = 65537) -> dict[str, int]:
    while True:
        p = _random_prime(bits // 2, e)
        q = _random_prime(bits - bits // 2, e)
        if p != q and (p * q).bit_length() == bits:
            break
    if p < q:
        p, q = q, p
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    d = pow(e, -1, lam)
    return {
        "n": p * q,
        "e": e,
        "d": d,
        "p": p,
        "q": q,
        "dp": d % (p - 1),
        "dq": d % (q - 1),
        "qinv": pow(q, -1, p),
    }


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(content)) + content


def der_int(value: int) -> bytes:
    # One spare byte keeps the sign bit clear (DER integers are two's complement).
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _seq(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


def _pem(label: str, der: bytes) -> str:
    b64 = base64.b64encode(der).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def rsa_pem_pair(bits: int = 2048) -> tuple[str, str]:
    """(PKCS#1 private key PEM, PKIX public key PEM)."""
    k = rsa_numbers(bits)
    private = _seq(
        der_int(0), *(der_int(k[f]) for f in ("n", "e", "d", "p", "q", "dp", "dq", "qinv"))
    )
    rsa_public = _seq(der_int(k["n"]), der_int(k["e"]))
    spki = _seq(_seq(_RSA_OID, b"\x05\x00"), _der(0x03, b"\x00" + rsa_public))
    return _pem("RSA PRIVATE KEY", private), _pem("PUBLIC KEY", spki)
