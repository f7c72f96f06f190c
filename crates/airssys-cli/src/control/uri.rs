//! The control API's paths and queries: a component id, subject or pattern
//! is one percent-encoded path segment; query values are form-encoded.
//! Shared by the server (decoding) and `airssys ctl` (encoding).

use std::collections::HashMap;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters is encoded in a segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment or query value (everything but
/// RFC 3986 unreserved characters), so that `/`, `?`, `*` and `>` in an id,
/// subject or pattern stay inside their segment.
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// The non-empty segments of `path`, each percent-decoded.
///
/// # Errors
/// In words, for a segment that does not decode to UTF-8.
pub fn segments(path: &str) -> Result<Vec<String>, String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|d| d.into_owned())
                .map_err(|_| format!("bad percent-encoding in `{path}`: not UTF-8"))
        })
        .collect()
}

/// The parameters of a query string (`a=1&b=x+y`), form-decoded; the last
/// of a repeated name wins.
pub fn query(query: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_round_trips_through_encoding() {
        let s = "orders.eu/ä ?*>";
        let path = format!("/v1/components/{}/send", percent_encode(s));
        assert_eq!(segments(&path).unwrap(), ["v1", "components", s, "send"]);
    }

    #[test]
    fn a_path_and_query_are_decoded() {
        assert_eq!(
            segments("/v1/components/a%2Fb/send").unwrap(),
            ["v1", "components", "a/b", "send"]
        );
        assert!(segments("/v1/%FF").is_err());
        let q = query(Some("timeout_ms=5&x=a+b&y=%2F"));
        assert_eq!(q["timeout_ms"], "5");
        assert_eq!(q["x"], "a b");
        assert_eq!(q["y"], "/");
        assert!(query(None).is_empty());
    }
}
