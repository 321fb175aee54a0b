//! Secrets and signed session tokens.
//!
//! A session token is `v1.<user id>.<epoch>.<expires, unix s>.<HMAC-SHA256, hex>`,
//! signed with the key in `DATA_DIR/auth/key`. Nothing about sessions is stored: the
//! signature proves we issued it, `expires` bounds it, and `epoch` must equal the
//! user's current epoch, which logout and a password change bump (revoking every
//! token issued before).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "v1";

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub user_id: String,
    pub epoch: u64,
    pub expires_unix: u64,
}

/// `n` random bytes from the OS, as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the OS random source works");
    hex(&buf)
}

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality that takes the same time wherever the inputs differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn mac(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length")
}

/// Signs `claims` with `key`.
pub fn sign(key: &[u8], claims: &Claims) -> String {
    let payload = format!(
        "{VERSION}.{}.{}.{}",
        claims.user_id, claims.epoch, claims.expires_unix
    );
    let mut m = mac(key);
    m.update(payload.as_bytes());
    format!("{payload}.{}", hex(&m.finalize().into_bytes()))
}

/// The claims of `token` if `key` signed it and it has not expired at `now_unix`.
pub fn verify(key: &[u8], token: &str, now_unix: u64) -> Option<Claims> {
    let (payload, sig) = token.rsplit_once('.')?;
    let mut parts = payload.split('.');
    let (Some(VERSION), Some(user_id), Some(epoch), Some(expires), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let sig = unhex(sig)?;
    let mut m = mac(key);
    m.update(payload.as_bytes());
    m.verify_slice(&sig).ok()?;
    let claims = Claims {
        user_id: user_id.to_owned(),
        epoch: epoch.parse().ok()?,
        expires_unix: expires.parse().ok()?,
    };
    (claims.expires_unix > now_unix).then_some(claims)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            user_id: "u1a2b".into(),
            epoch: 3,
            expires_unix: 2_000,
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let t = sign(b"key", &claims());
        assert!(t.starts_with("v1.u1a2b.3.2000."), "{t}");
        assert_eq!(verify(b"key", &t, 1_999), Some(claims()));
        assert_eq!(verify(b"key", &t, 2_000), None);
    }

    #[test]
    fn a_forged_or_mangled_token_does_not() {
        let t = sign(b"key", &claims());
        assert_eq!(verify(b"other key", &t, 0), None);
        let forged = t.replace("v1.u1a2b.3.2000", "v1.u1a2b.3.9999");
        assert_eq!(verify(b"key", &forged, 0), None);
        for bad in [
            "",
            "v1",
            "v1.a.b.c.d",
            "x.u.1.2.00",
            "v1.u.1.2.3.zz",
            "v1.u.1.2.é",
        ] {
            assert_eq!(verify(b"key", bad, 0), None, "{bad}");
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
        assert_eq!(random_hex(16).len(), 32);
        assert_ne!(random_hex(16), random_hex(16));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
