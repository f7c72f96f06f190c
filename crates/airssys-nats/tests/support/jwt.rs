//! An operator, its accounts and their users as NATS JWTs, signed here with
//! `nkeys` (what `nsc` would make), the configuration of a `nats-server` in
//! operator mode that trusts them, and the `.creds` file a host connects
//! with.
//!
//! A JWT is `<header>.<claims>.<signature>`, each part base64url without
//! padding: the header `{"typ":"JWT","alg":"ed25519-nkey"}`, the claims as
//! JSON (`iss` the signer's public key, `sub` the subject's, `nats` the
//! type-specific part with `version: 2`), and the issuer's Ed25519
//! signature of `<header>.<claims>`. nats-server 2.9 checks the signature,
//! that the issuer has the right kind of key, the time bounds (`exp`,
//! `nbf`) and the chain of trust (operator → account → user); it does not
//! recompute `jti` (`nsc` sets it to a hash of the claims), so a unique
//! random one stands in.
//!
//! ```ignore
//! let operator = Operator::new("test");
//! let shop = operator.account("shop");
//! let config = operator.server_config(&[&shop]);
//! let creds = shop.user("host").creds();
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use nkeys::KeyPair;
use serde_json::{json, Value};

/// The limits `nsc` gives an account by default: none. A missing limit
/// reads as 0, and an account allowed 0 connections admits no one.
fn unlimited_account() -> Value {
    json!({
        "subs": -1, "data": -1, "payload": -1,
        "imports": -1, "exports": -1, "wildcards": true,
        "conn": -1, "leaf": -1,
    })
}

/// A trusted operator: the root of the chain, its JWT signed by itself.
pub struct Operator {
    key: KeyPair,
    jwt: String,
}

impl Operator {
    /// A new operator called `name`, with a fresh key.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::new_operator();
        let jwt = encode(&key, &key.public_key(), name, json!({ "type": "operator" }));
        Self { key, jwt }
    }

    /// A new account called `name`, signed by this operator.
    pub fn account(&self, name: &str) -> Account {
        let key = KeyPair::new_account();
        let nats = json!({ "type": "account", "limits": unlimited_account() });
        let jwt = encode(&self.key, &key.public_key(), name, nats);
        Account { key, jwt }
    }

    /// A `nats-server` configuration trusting this operator, with
    /// `accounts` preloaded in a memory resolver (the server knows no
    /// other account).
    pub fn server_config(&self, accounts: &[&Account]) -> String {
        let preload: String = accounts
            .iter()
            .map(|a| format!("  {}: {:?}\n", a.public_key(), a.jwt))
            .collect();
        format!(
            "operator: {:?}\nresolver: MEMORY\nresolver_preload: {{\n{preload}}}\n",
            self.jwt
        )
    }
}

/// An account: it issues users, itself issued by an [`Operator`].
pub struct Account {
    key: KeyPair,
    jwt: String,
}

impl Account {
    /// The account's public key (`A…`).
    pub fn public_key(&self) -> String {
        self.key.public_key()
    }

    /// A user called `name` allowed every subject.
    pub fn user(&self, name: &str) -> User {
        User::signed(&self.key, None, name, None)
    }

    /// A user called `name` that may publish and subscribe only on
    /// `subjects`.
    pub fn user_limited_to(&self, name: &str, subjects: &[&str]) -> User {
        User::signed(&self.key, None, name, Some(subjects))
    }

    /// A user called `name` signed by `signer` on this account's behalf
    /// (`issuer_account`), as a signing key of the account would; the
    /// server admits it only if the account's JWT lists `signer`.
    pub fn user_signed_by(&self, signer: &KeyPair, name: &str) -> User {
        User::signed(signer, Some(&self.public_key()), name, None)
    }
}

/// A user: a key and the JWT an account signed for it.
pub struct User {
    key: KeyPair,
    jwt: String,
}

impl User {
    fn signed(
        signer: &KeyPair,
        issuer_account: Option<&str>,
        name: &str,
        subjects: Option<&[&str]>,
    ) -> Self {
        let key = KeyPair::new_user();
        let mut nats = json!({
            "type": "user",
            // Unset limits read as 0: no subscription, no payload.
            "subs": -1, "data": -1, "payload": -1,
        });
        if let Some(account) = issuer_account {
            nats["issuer_account"] = json!(account);
        }
        if let Some(subjects) = subjects {
            nats["pub"] = json!({ "allow": subjects });
            nats["sub"] = json!({ "allow": subjects });
        }
        let jwt = encode(signer, &key.public_key(), name, nats);
        Self { key, jwt }
    }

    /// The credentials file's text, as `nsc generate creds` writes it: the
    /// user's JWT, then its NKey seed.
    pub fn creds(&self) -> String {
        let seed = self.key.seed().expect("a generated key has a seed");
        format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n",
            jwt = self.jwt
        )
    }
}

/// A JWT about `subject` called `name`, signed by `signer`; `nats` is the
/// type-specific part (with `type`), to which `version: 2` is added.
pub fn encode(signer: &KeyPair, subject: &str, name: &str, mut nats: Value) -> String {
    nats["version"] = json!(2);
    let issued_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_secs();
    let claims = json!({
        "jti": nuid::next().to_string(),
        "iat": issued_at,
        "iss": signer.public_key(),
        "sub": subject,
        "name": name,
        "nats": nats,
    });
    let header = base64url(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let signed = format!("{header}.{}", base64url(claims.to_string().as_bytes()));
    let signature = signer
        .sign(signed.as_bytes())
        .expect("a generated key can sign");
    format!("{signed}.{}", base64url(&signature))
}

/// `bytes` in base64url without padding (RFC 4648 §5), as JWTs use.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        // Up to 24 bits, first byte highest; n bytes make n + 1 characters.
        let bits = chunk
            .iter()
            .enumerate()
            .fold(0u32, |bits, (i, &b)| bits | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(bits >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}
