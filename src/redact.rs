//! Removing secrets from URLs before they reach logs, errors or metric labels.

/// Replaces the password of a `scheme://user:password@host/...` URL with `xxxxx`.
pub fn redact_url(url: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn hides_passwords_only() {
        assert_eq!(
            redact_url("https://bob:s3cret@host:9090/api/v1/write"),
            "https://bob:xxxxx@host:9090/api/v1/write"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:9/w?x=1"),
            "http://127.0.0.1:9/w?x=1"
        );
        assert_eq!(redact_url("http://tok@h/"), "http://tok@h/");
    }
}
