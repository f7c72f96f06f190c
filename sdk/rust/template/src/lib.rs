//! kv: a key-value store as a request/reply component.
//!
//! `set KEY VALUE` stores a value and answers `ok`; `get KEY` answers the
//! value, or fails the handler with [`NO_SUCH_KEY`] (the requester gets an
//! error, the message is dead-lettered `rejected`, the store stays). At
//! most `max_keys` keys (configuration, default 100).

use std::collections::BTreeMap;

use airssys_guest::{export_component, log, Component, Config, Failure, Level, Message};

/// Handler code: the command is not `set` or `get`.
const BAD_COMMAND: i32 = 1;
/// Handler code: `get` of a key never set.
const NO_SUCH_KEY: i32 = 2;
/// Handler code: `set` of a new key past `max_keys`.
const FULL: i32 = 3;
/// `init` code: `max_keys` is not a number.
const BAD_CONFIG: i32 = 4;

struct Kv {
    entries: BTreeMap<String, String>,
    max_keys: usize,
}

impl Component for Kv {
    fn init(config: &Config) -> Result<Self, Failure> {
        // `?` turns a HostError into a Failure with the host's code.
        let max_keys = config.get_or("max_keys", "100")?;
        let max_keys = match max_keys.parse() {
            Ok(n) => n,
            Err(_) => {
                log(Level::Error, &format!("max_keys is not a number: {max_keys:?}"));
                return Err(Failure::new(BAD_CONFIG));
            }
        };
        Ok(Kv {
            entries: BTreeMap::new(),
            max_keys,
        })
    }

    fn handle(&mut self, message: Message<'_>) -> Result<Option<Vec<u8>>, Failure> {
        let text = message.payload_str().unwrap_or("");
        let mut words = text.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("set"), Some(key), Some(value)) => {
                if !self.entries.contains_key(key) && self.entries.len() >= self.max_keys {
                    return Err(Failure::new(FULL));
                }
                self.entries.insert(key.to_owned(), value.to_owned());
                Ok(Some(b"ok".to_vec()))
            }
            (Some("get"), Some(key), None) => match self.entries.get(key) {
                Some(value) => Ok(Some(value.clone().into_bytes())),
                None => Err(Failure::new(NO_SUCH_KEY)),
            },
            _ => {
                log(Level::Warn, &format!("not a command: {text:?}"));
                Err(Failure::new(BAD_COMMAND))
            }
        }
    }
}

export_component!(Kv);
