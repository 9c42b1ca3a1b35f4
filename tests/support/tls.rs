//! A test certificate authority (rcgen) and server certificates for loopback
//! servers, written as PEM files the servers and clients read.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A CA whose certificate is at [`TestCa::pem`].
pub struct TestCa {
    /// The CA certificate (PEM): what `[registry] ca_file` names.
    pub pem: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

/// A server certificate and its key, PEM files.
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// A fresh P-256 CA named `name`, written to `dir/<name>.ca.pem`.
    pub fn new(dir: &Path, name: &str) -> TestCa {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA certificate");
        let pem = dir.join(format!("{name}.ca.pem"));
        std::fs::write(&pem, cert.pem()).expect("write CA PEM");
        TestCa {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `127.0.0.1` (IP SAN) and `localhost`, signed
    /// by this CA: `dir/<name>.crt.pem`, `dir/<name>.key.pem`.
    pub fn server_cert(&self, dir: &Path, name: &str) -> ServerCert {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("server key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_string()]).expect("server params");
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::from([127, 0, 0, 1])));
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("server certificate");
        let out = ServerCert {
            cert: dir.join(format!("{name}.crt.pem")),
            key: dir.join(format!("{name}.key.pem")),
        };
        std::fs::write(&out.cert, cert.pem()).expect("write server certificate");
        std::fs::write(&out.key, key.serialize_pem()).expect("write server key");
        out
    }
}
