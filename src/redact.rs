//! Removing secrets from URLs before they reach logs, errors or metric labels: the userinfo
//! password (as Prometheus's `url` label hides it) and every query parameter value, since
//! managed services put tokens there (`?api_key=...`).

/// Replaces the password of a `scheme://user:password@host/...` URL and the value of every
/// query parameter with `xxxxx` (see [`redact_url_and_query`]).
pub fn redact_url(url: &str) -> String {
    redact_url_and_query(url)
}

/// Replaces the password of a `scheme://user:password@host/...` URL with `xxxxx`.
fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    let user = userinfo.split(':').next().unwrap_or("");
    let redacted_userinfo = if userinfo.contains(':') {
        format!("{user}:xxxxx")
    } else {
        user.to_string()
    };
    format!(
        "{}{}@{}{}",
        &url[..authority_start],
        redacted_userinfo,
        &authority[at + 1..],
        &url[authority_end..]
    )
}

/// Hides the password as [`redact_url`] does, and replaces the value of every query
/// parameter with `xxxxx`:
/// `https://h/w?api_key=t0k&x` becomes `https://h/w?api_key=xxxxx&x` (names and parameters
/// without a value stay; so does a `#fragment`, which is never sent).
pub fn redact_url_and_query(url: &str) -> String {
    let url = redact_password(url);
    // The query starts at the first `?` after the authority (which `?` also ends) and ends
    // at `#`.
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let Some(query_start) = url[after_scheme..].find('?').map(|i| after_scheme + i + 1) else {
        return url;
    };
    let query_end = url[query_start..]
        .find('#')
        .map_or(url.len(), |i| query_start + i);
    if url[after_scheme..query_start].contains('#') {
        return url; // the `?` is inside the fragment
    }
    let query = url[query_start..query_end]
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() => format!("{name}=xxxxx"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{}{query}{}", &url[..query_start], &url[query_end..])
}

#[cfg(test)]
mod tests {
    use super::{redact_url, redact_url_and_query};

    #[test]
    fn hides_passwords_and_query_values() {
        assert_eq!(
            redact_url("https://bob:s3cret@host:9090/api/v1/write"),
            "https://bob:xxxxx@host:9090/api/v1/write"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:9/w?x=1"),
            "http://127.0.0.1:9/w?x=xxxxx"
        );
        assert_eq!(redact_url("http://tok@h/"), "http://tok@h/");
    }

    #[test]
    fn query_values_hidden_with_the_password() {
        assert_eq!(
            redact_url_and_query("https://bob:s3cret@host:9090/api/v1/write?api_key=t0k&region=eu"),
            "https://bob:xxxxx@host:9090/api/v1/write?api_key=xxxxx&region=xxxxx"
        );
        assert_eq!(
            redact_url_and_query("http://h/w?flag&empty=&k=v#frag?x=1"),
            "http://h/w?flag&empty=&k=xxxxx#frag?x=1"
        );
        // A `?` right after the host, with no path.
        assert_eq!(
            redact_url_and_query("http://h:1?token=abc"),
            "http://h:1?token=xxxxx"
        );
        assert_eq!(redact_url_and_query("http://h/w#a?b=c"), "http://h/w#a?b=c");
        assert_eq!(redact_url_and_query("http://h/w"), "http://h/w");
        // The password is hidden even when the query has none.
        assert_eq!(
            redact_url_and_query("http://u:p@h/w?"),
            "http://u:xxxxx@h/w?"
        );
        // redact_url (logs, errors, metric labels) hides query values too.
        assert_eq!(redact_url("http://h/w?k=v"), "http://h/w?k=xxxxx");
    }
}
