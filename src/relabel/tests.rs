use super::*;

#[test]
#[ignore]
fn tmp_go_diff() {
    use std::fmt::Write;
    let dir = "/tmp/gov/diff";
    let pats = std::fs::read_to_string(format!("{dir}/patterns.txt")).unwrap();
    let ins = std::fs::read_to_string(format!("{dir}/inputs.txt")).unwrap();
    let ins: Vec<String> = ins
        .lines()
        .map(|l| {
            l.replace("\\n", "\n")
                .replace("\\v", "\u{b}")
                .replace("\\t", "\t")
        })
        .collect();
    let mut out = String::new();
    for p in pats.lines() {
        match parse::compile_go_regex(p) {
            Err(e) => writeln!(out, "{} ERR {}", expand::go_quote(p), e).unwrap(),
            Ok(re) => {
                for i in &ins {
                    let idx = match re.regex.captures(i) {
                        None => "[]".to_string(),
                        Some(c) => {
                            let mut v = vec![];
                            for g in 0..c.len() {
                                match c.get(g) {
                                    Some(m) => {
                                        v.push(m.start().to_string());
                                        v.push(m.end().to_string());
                                    }
                                    None => {
                                        v.push("-1".into());
                                        v.push("-1".into());
                                    }
                                }
                            }
                            format!("[{}]", v.join(" "))
                        }
                    };
                    writeln!(
                        out,
                        "{} {} {}",
                        expand::go_quote(p),
                        expand::go_quote(i),
                        idx
                    )
                    .unwrap();
                }
            }
        }
    }
    std::fs::write(format!("{dir}/rust_out.txt"), out).unwrap();
}
