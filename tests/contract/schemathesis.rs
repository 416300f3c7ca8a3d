//! Running schemathesis against a service.

use std::path::PathBuf;

/// One schemathesis run: the document at `{base}/openapi.json`, requests signed with `token`.
#[derive(Debug)]
pub struct Run<'a> {
    pub base: &'a str,
    pub token: &'a str,
    /// A name for the report file (`target/schemathesis/{name}.txt`).
    pub name: &'a str,
    /// Operations to leave out (`--exclude-path-regex`), with the reason in a comment where used.
    pub exclude_path_regex: Option<&'a str>,
}

fn report_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/schemathesis")
}

impl Run<'_> {
    /// Run and assert that schemathesis found nothing; its report is kept in
    /// `target/schemathesis/` and printed on failure.
    pub async fn passes(&self) {
        let tool = ordo_testkit::peers::test_tool("schemathesis");
        // CI's size and seed (a fixed seed: a failure repeats); deeper runs set these.
        let examples = std::env::var("ORDO_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "50".into());
        let seed = std::env::var("ORDO_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".into());
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contract");
        std::fs::create_dir_all(report_dir()).unwrap();
        let mut cmd = tokio::process::Command::new(tool);
        cmd.arg("--config-file")
            .arg(here.join("schemathesis.toml"))
            .arg("run")
            .arg(format!("{}/openapi.json", self.base))
            .args(["--checks", "all"])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", &examples])
            // One worker: CPython 3.11 can fail parsing sources in two threads at once
            // ("AST constructor recursion depth mismatch").
            .args(["--workers", "1"])
            .args(["--seed", &seed])
            .args(["--request-timeout", "10"])
            .arg("--no-color")
            .args(["--header", &format!("Authorization: Bearer {}", self.token)])
            .env("SCHEMATHESIS_HOOKS", "hooks")
            .env("PYTHONPATH", &here)
            // Its cache of found failures lives with the reports, not in the source tree.
            .current_dir(report_dir())
            .kill_on_drop(true);
        if let Some(r) = self.exclude_path_regex {
            cmd.args(["--exclude-path-regex", r]);
        }
        let out = cmd.output().await.unwrap();
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(report_dir().join(format!("{}.txt", self.name)), &text).unwrap();
        assert!(
            out.status.success(),
            "schemathesis found problems ({}):\n{text}",
            self.name
        );
    }
}
