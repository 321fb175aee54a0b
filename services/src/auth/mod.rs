//! Who is calling: users, passwords, session tokens, the API token and the one-time
//! login token.
//!
//! Plain Rust, no HTTP: the `http` layers and the `http::auth` router call in here.
//!
//! * Users live in `DATA_DIR/auth/users.json` with argon2id password hashes
//!   (`argon2`, its default parameters: 19 MiB, 2 passes). The **owner** is made at
//!   the first start, named after `$USER` (else `owner`), without a password: the
//!   owner gets in through the login URL or the API token, and may set one.
//! * Sessions are signed, expiring tokens (`token.rs`), keyed by
//!   `DATA_DIR/auth/key`. Logout and a password change bump the user's epoch, which
//!   revokes every token issued before.
//! * `DATA_DIR/api.token` is a bearer token for scripts and tests; it acts as the owner.
//! * The login token is made by each `agentos up`, printed in its URL, good once.
//!
//! Every file is 0600 and written atomically (`files.rs`). Password hashing is slow
//! by design; callers run it on a blocking thread ([`Auth::login`] is sync).

pub mod files;
pub mod token;

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};
use serde::{Deserialize, Serialize};

pub use files::FileError;
use token::{Claims, ct_eq, random_hex};

/// The bearer token file for scripts, in the data directory.
pub const API_TOKEN_FILE: &str = "api.token";
/// The auth directory inside the data directory.
const AUTH_DIR: &str = "auth";
const USERS_FILE: &str = "users.json";
const KEY_FILE: &str = "key";
/// How long a session token is good for.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

/// Why an auth operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("a user named {0:?} already exists")]
    UsernameTaken(String),
    #[error("username {0:?}: use 1 to 32 of a-z, 0-9, '.', '_' and '-'")]
    BadUsername(String),
    #[error("the password must have at least {MIN_PASSWORD} characters")]
    WeakPassword,
    #[error("only the owner may do this")]
    NotOwner,
    #[error("this session is not a user's login (the API token cannot log out)")]
    NotASession,
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{what}: {message}")]
    Corrupt { what: PathBuf, message: String },
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// How the caller proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// `DATA_DIR/api.token`, as a bearer token.
    ApiToken,
    /// A session token (cookie or bearer).
    Session,
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub username: String,
    pub owner: bool,
    pub via: Via,
}

/// A user as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct User {
    id: String,
    username: String,
    /// PHC string of an argon2id hash; `None` until the owner sets one.
    password_hash: Option<String>,
    owner: bool,
    /// Tokens carry the epoch they were issued in; bumping it revokes them.
    epoch: u64,
    created_unix: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct UsersFile {
    users: Vec<User>,
}

/// What the API says about a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub id: String,
    pub username: String,
    pub owner: bool,
    pub has_password: bool,
}

/// Users, keys and tokens of one data directory.
pub struct Auth {
    dir: PathBuf,
    key: Vec<u8>,
    api_token: String,
    login_token: Mutex<Option<String>>,
    users: RwLock<Vec<User>>,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Auth {
    /// Opens (or, on the first start, creates) the auth state of `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, AuthError> {
        let dir = data_dir.join(AUTH_DIR);
        let key = match files::read_optional(&dir.join(KEY_FILE))? {
            Some(k) if k.len() >= 32 => k,
            _ => {
                let mut k = vec![0u8; 32];
                getrandom::fill(&mut k).expect("the OS random source works");
                files::write_private(&dir.join(KEY_FILE), &k)?;
                k
            }
        };
        let token_path = data_dir.join(API_TOKEN_FILE);
        let api_token = match files::read_optional(&token_path)? {
            Some(t) if t.trim_ascii().len() >= 32 => {
                String::from_utf8_lossy(t.trim_ascii()).into_owned()
            }
            _ => {
                let t = random_hex(32);
                files::write_private(&token_path, format!("{t}\n").as_bytes())?;
                t
            }
        };
        let users_path = dir.join(USERS_FILE);
        let mut users = match files::read_optional(&users_path)? {
            Some(bytes) => {
                serde_json::from_slice::<UsersFile>(&bytes)
                    .map_err(|e| AuthError::Corrupt {
                        what: users_path.clone(),
                        message: e.to_string(),
                    })?
                    .users
            }
            None => Vec::new(),
        };
        let auth_dir = dir.clone();
        if !users.iter().any(|u| u.owner) {
            let name = std::env::var("USER")
                .ok()
                .filter(|n| valid_username(n))
                .unwrap_or_else(|| "owner".into());
            users.push(User {
                id: new_user_id(),
                username: name,
                password_hash: None,
                owner: true,
                epoch: 0,
                created_unix: now_unix(),
            });
            save_users(&auth_dir, &users)?;
        }
        Ok(Self {
            dir,
            key,
            api_token,
            login_token: Mutex::new(None),
            users: RwLock::new(users),
        })
    }

    /// A new one-time login token for the owner (replacing any unused one).
    pub fn new_login_token(&self) -> String {
        let t = random_hex(24);
        *self
            .login_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(t.clone());
        t
    }

    /// Spends the login token: a session token for the owner if `token` is it.
    pub fn exchange_login_token(&self, token: &str) -> Option<(Caller, String)> {
        let mut slot = self
            .login_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ok = slot
            .as_deref()
            .is_some_and(|t| ct_eq(t.as_bytes(), token.as_bytes()));
        if !ok {
            return None;
        }
        *slot = None;
        drop(slot);
        let owner = self.read().iter().find(|u| u.owner).cloned()?;
        Some(self.session_for(&owner))
    }

    /// Who presents `credential` (the API token or a session token), if anyone.
    pub fn identify(&self, credential: &str) -> Option<Caller> {
        if ct_eq(credential.as_bytes(), self.api_token.as_bytes()) {
            let users = self.read();
            let owner = users.iter().find(|u| u.owner)?;
            return Some(caller(owner, Via::ApiToken));
        }
        let claims = token::verify(&self.key, credential, now_unix())?;
        let users = self.read();
        let user = users
            .iter()
            .find(|u| u.id == claims.user_id && u.epoch == claims.epoch)?;
        Some(caller(user, Via::Session))
    }

    /// Checks a username and password; a caller and its session token.
    pub fn login(&self, username: &str, password: &str) -> Result<(Caller, String), AuthError> {
        let user = self.read().iter().find(|u| u.username == username).cloned();
        // Hash even for an unknown user, so timing does not tell which names exist.
        let hash = user
            .as_ref()
            .and_then(|u| u.password_hash.clone())
            .unwrap_or_else(|| DUMMY_HASH.to_owned());
        let ok = verify_password(password, &hash);
        match user {
            Some(u) if ok && u.password_hash.is_some() => Ok(self.session_for(&u)),
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    /// Makes a new user; only the owner may.
    pub fn register(
        &self,
        by: &Caller,
        username: &str,
        password: &str,
    ) -> Result<UserInfo, AuthError> {
        if !by.owner {
            return Err(AuthError::NotOwner);
        }
        if !valid_username(username) {
            return Err(AuthError::BadUsername(username.to_owned()));
        }
        let hash = hash_password(password)?;
        let mut users = self.write();
        if users.iter().any(|u| u.username == username) {
            return Err(AuthError::UsernameTaken(username.to_owned()));
        }
        let user = User {
            id: new_user_id(),
            username: username.to_owned(),
            password_hash: Some(hash),
            owner: false,
            epoch: 0,
            created_unix: now_unix(),
        };
        let mut next = users.clone();
        next.push(user.clone());
        save_users(&self.dir, &next)?;
        *users = next;
        Ok(info(&user))
    }

    /// Ends every session of the caller's user (their tokens stop verifying).
    pub fn logout(&self, caller: &Caller) -> Result<(), AuthError> {
        if caller.via != Via::Session {
            return Err(AuthError::NotASession);
        }
        self.update(&caller.user_id, |u| u.epoch += 1)
    }

    /// Sets the caller's password (the old one must match, if there was one); every
    /// other session ends, and the caller gets a new token.
    pub fn change_password(
        &self,
        caller: &Caller,
        old: Option<&str>,
        new: &str,
    ) -> Result<String, AuthError> {
        let current = self
            .read()
            .iter()
            .find(|u| u.id == caller.user_id)
            .and_then(|u| u.password_hash.clone());
        if let Some(hash) = current
            && !verify_password(old.unwrap_or_default(), &hash)
        {
            return Err(AuthError::InvalidCredentials);
        }
        let hash = hash_password(new)?;
        self.update(&caller.user_id, |u| {
            u.password_hash = Some(hash);
            u.epoch += 1;
        })?;
        let user = self
            .read()
            .iter()
            .find(|u| u.id == caller.user_id)
            .cloned()
            .ok_or(AuthError::InvalidCredentials)?;
        Ok(self.session_for(&user).1)
    }

    /// The caller's user.
    pub fn whoami(&self, caller: &Caller) -> Option<UserInfo> {
        self.read()
            .iter()
            .find(|u| u.id == caller.user_id)
            .map(info)
    }

    fn session_for(&self, user: &User) -> (Caller, String) {
        let claims = Claims {
            user_id: user.id.clone(),
            epoch: user.epoch,
            expires_unix: now_unix() + SESSION_TTL.as_secs(),
        };
        (caller(user, Via::Session), token::sign(&self.key, &claims))
    }

    fn update(&self, user_id: &str, change: impl FnOnce(&mut User)) -> Result<(), AuthError> {
        let mut users = self.write();
        let mut next = users.clone();
        let user = next
            .iter_mut()
            .find(|u| u.id == user_id)
            .ok_or(AuthError::InvalidCredentials)?;
        change(user);
        save_users(&self.dir, &next)?;
        *users = next;
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<User>> {
        self.users.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<User>> {
        self.users.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A valid argon2id hash of a random password, verified against for unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                          ZqJyrWSOs0y1YvlmRpC9CNQSpd1U2yCY2zyUh2q0g0k";

fn caller(u: &User, via: Via) -> Caller {
    Caller {
        user_id: u.id.clone(),
        username: u.username.clone(),
        owner: u.owner,
        via,
    }
}

fn info(u: &User) -> UserInfo {
    UserInfo {
        id: u.id.clone(),
        username: u.username.clone(),
        owner: u.owner,
        has_password: u.password_hash.is_some(),
    }
}

fn new_user_id() -> String {
    format!("u{}", random_hex(8))
}

fn valid_username(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

fn hash_password(password: &str) -> Result<String, AuthError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(AuthError::WeakPassword);
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random source works");
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

fn save_users(dir: &Path, users: &[User]) -> Result<(), AuthError> {
    let file = UsersFile {
        users: users.to_vec(),
    };
    let json = serde_json::to_vec_pretty(&file).expect("users serialize to JSON");
    files::write_private(&dir.join(USERS_FILE), &json)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_makes_an_owner_and_the_api_token_acts_as_it() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Auth::open(dir.path()).unwrap();
        let token = std::fs::read_to_string(dir.path().join(API_TOKEN_FILE)).unwrap();
        let owner = auth
            .identify(token.trim())
            .expect("the API token is the owner");
        assert!(owner.owner);
        assert_eq!(owner.via, Via::ApiToken);
        assert_eq!(auth.identify("nope"), None);
        // Reopening keeps the same owner and token.
        let again = Auth::open(dir.path()).unwrap();
        assert_eq!(again.identify(token.trim()).unwrap().user_id, owner.user_id);
    }

    #[test]
    fn the_login_token_is_good_once() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Auth::open(dir.path()).unwrap();
        let t = auth.new_login_token();
        assert!(auth.exchange_login_token("wrong").is_none());
        let (caller, session) = auth.exchange_login_token(&t).unwrap();
        assert!(caller.owner);
        assert_eq!(auth.identify(&session).unwrap().user_id, caller.user_id);
        assert!(auth.exchange_login_token(&t).is_none());
    }

    #[test]
    fn users_register_log_in_change_passwords_and_log_out() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Auth::open(dir.path()).unwrap();
        let owner = auth.identify(&auth.api_token).unwrap();
        let alice = auth.register(&owner, "alice", "correct horse").unwrap();
        assert!(matches!(
            auth.register(&owner, "alice", "another one"),
            Err(AuthError::UsernameTaken(_))
        ));
        assert!(matches!(
            auth.register(&owner, "Bad Name", "long enough"),
            Err(AuthError::BadUsername(_))
        ));
        assert!(matches!(
            auth.register(&owner, "bob", "short"),
            Err(AuthError::WeakPassword)
        ));
        assert!(matches!(
            auth.login("alice", "wrong password"),
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            auth.login("nobody", "correct horse"),
            Err(AuthError::InvalidCredentials)
        ));
        let (a, token) = auth.login("alice", "correct horse").unwrap();
        assert_eq!(a.user_id, alice.id);
        assert!(matches!(
            auth.register(&a, "carol", "long enough"),
            Err(AuthError::NotOwner)
        ));
        let new_token = auth
            .change_password(&a, Some("correct horse"), "battery staple")
            .unwrap();
        assert_eq!(auth.identify(&token), None, "old sessions end");
        let a = auth.identify(&new_token).unwrap();
        assert!(auth.login("alice", "battery staple").is_ok());
        auth.logout(&a).unwrap();
        assert_eq!(auth.identify(&new_token), None);
        // All of it survives a restart.
        let again = Auth::open(dir.path()).unwrap();
        assert!(again.login("alice", "battery staple").is_ok());
    }

    #[test]
    fn the_dummy_hash_is_a_valid_hash() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
