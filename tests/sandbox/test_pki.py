"""The sandbox PKI: what the API server and clients check in the certificates."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from carbide_dpf.sandbox.pki import CertificateAuthority, service_account_key


def test_serving_certificate_names_loopback_ip_and_localhost() -> None:
    ca = CertificateAuthority()

    cert = x509.load_pem_x509_certificate(ca.issue_serving().cert_pem)

    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_client_certificate_carries_user_and_groups_and_is_signed_by_the_ca() -> None:
    ca = CertificateAuthority()

    cert = x509.load_pem_x509_certificate(ca.issue_client("admin", ["system:masters"]).cert_pem)

    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "admin"
    organizations = subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [o.value for o in organizations] == ["system:masters"]
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert_pem))


def test_other_authority_did_not_sign_the_client_certificate() -> None:
    pair = CertificateAuthority().issue_client("mallory")
    stranger = x509.load_pem_x509_certificate(CertificateAuthority().cert_pem)

    cert = x509.load_pem_x509_certificate(pair.cert_pem)

    # Both authorities share a name, so only the signature tells them apart.
    with pytest.raises(InvalidSignature):
        cert.verify_directly_issued_by(stranger)


def test_service_account_key_pair_is_rsa_and_matches() -> None:
    private_pem, public_pem = service_account_key()

    key = load_pem_private_key(private_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert b"BEGIN PUBLIC KEY" in public_pem
    derived = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert derived == public_pem
