//! The release tarball `scripts/package` makes: it holds what the README
//! promises (and the images the README shows), its example weft.toml starts the unpacked binary as it is,
//! every setting the example shows is a real one, and the systemd unit
//! passes `systemd-analyze verify` (where that tool exists).
//!
//! The test packages the debug binary cargo built for it (`--binary`); it
//! never builds a release.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a helper fails the test by unwrapping, and clippy's allow-unwrap-in-tests covers only #[test] functions"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use weft_server::config::{Config, Overrides};

/// What the tarball holds, relative to its top directory.
const EXPECTED: [&str; 7] = [
    "weft",
    "weft.toml",
    "weft.service",
    "README.md",
    "completions/weft.bash",
    "completions/_weft",
    "completions/weft.fish",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs `scripts/package` on the test's binary; the tarball's path.
fn package(out: &Path) -> PathBuf {
    let output = Command::new("bash")
        .arg(repo_root().join("scripts/package"))
        .args(["--binary", env!("CARGO_BIN_EXE_weft"), "--out"])
        .arg(out)
        .output()
        .expect("run scripts/package");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "scripts/package failed:\n{stdout}\n{stderr}");
    let prefix = format!("weft-{}-", env!("CARGO_PKG_VERSION"));
    let tarballs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".tar.gz")
        })
        .collect();
    assert_eq!(tarballs.len(), 1, "one weft-<version>-<triple>.tar.gz in {out:?}: {tarballs:?}");
    let tarball = tarballs.into_iter().next().unwrap();
    assert!(stdout.contains(&tarball.display().to_string()), "the script prints the tarball's path: {stdout}");
    tarball
}

/// Unpacks `tarball` into the empty directory `into`; its one top
/// directory.
fn unpack(tarball: &Path, into: &Path) -> PathBuf {
    let status = Command::new("tar").arg("-xzf").arg(tarball).arg("-C").arg(into).status().unwrap();
    assert!(status.success());
    let entries: Vec<PathBuf> = std::fs::read_dir(into).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "one top directory: {entries:?}");
    let top = entries.into_iter().next().unwrap();
    let expected_name = tarball.file_name().unwrap().to_string_lossy().trim_end_matches(".tar.gz").to_owned();
    assert_eq!(top.file_name().unwrap().to_string_lossy(), expected_name);
    top
}

/// A child process killed when dropped, so a failing test leaves no
/// server behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 GET; the status code.
fn get_status(addr: &str, path: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    raw.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line")
}

/// The example config with every `# key = value` line uncommented, except
/// the ones showing a placeholder (the secrets key) or an alternative
/// (the Postgres URL).
fn uncommented(example: &str) -> String {
    example
        .lines()
        .map(|line| {
            let Some(rest) = line.strip_prefix("# ") else { return line.to_owned() };
            let key = rest.split(" = ").next().unwrap_or("");
            let is_setting = rest.contains(" = ") && key.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            let placeholder = key == "key" || rest.starts_with("database_url = \"postgres");
            if is_setting && !placeholder { rest.to_owned() } else { line.to_owned() }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_tarball_holds_everything_and_its_example_config_serves() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let unpacked = work.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();

    let tarball = package(&out);
    let top = unpack(&tarball, &unpacked);
    for file in EXPECTED {
        let path = top.join(file);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "{file} is missing or empty in the tarball");
    }
    // The README's images come along, at the paths it links them by.
    let readme = std::fs::read_to_string(top.join("README.md")).unwrap();
    let images: Vec<&str> = readme
        .split("![")
        .skip(1)
        .filter_map(|rest| rest.split_once("](").and_then(|(_, link)| link.split_once(')')).map(|(path, _)| path))
        .collect();
    assert!(!images.is_empty(), "the README shows an image (the console screenshot)");
    for image in images {
        let size = std::fs::metadata(top.join(image)).map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "the README shows {image}, which the tarball does not hold");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(top.join("weft")).unwrap().permissions().mode();
    assert!(mode & 0o111 != 0, "weft is executable: {mode:o}");

    // Every setting the example shows exists and has a valid value.
    let example = std::fs::read_to_string(top.join("weft.toml")).unwrap();
    let all = work.path().join("all-settings.toml");
    std::fs::write(&all, uncommented(&example)).unwrap();
    assert!(
        uncommented(&example).lines().filter(|l| l.contains(" = ")).count() > 30,
        "the uncommenting found settings"
    );
    if let Err(err) = Config::load(Some(&all), |_| None, Overrides::default()) {
        panic!("the example with its settings uncommented does not load: {err}");
    }

    // The unpacked binary serves with the example config as it is.
    let database = work.path().join("weft.db");
    let mut child = Command::new(top.join("weft"))
        .args(["serve", "--config"])
        .arg(top.join("weft.toml"))
        .args(["--listen", "127.0.0.1:0", "--database-url"])
        .arg(format!("sqlite://{}", database.display()))
        .current_dir(work.path())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the unpacked weft");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let _server = Killed(child);
    let serving = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("weft is serving"))
        .expect("the unpacked weft never reported serving");
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    let addr = serving.split_whitespace().find_map(|part| part.strip_prefix("address=")).expect("address").to_owned();
    assert_eq!(get_status(&addr, "/readyz"), 200);

    // The unit, pointed at the unpacked binary (verify checks that
    // ExecStart exists).
    if Command::new("systemd-analyze").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let unit = std::fs::read_to_string(top.join("weft.service")).unwrap();
        assert!(unit.contains("StateDirectory=weft") && unit.contains("Restart=on-failure"), "{unit}");
        let unit = unit.replace("/usr/local/bin/weft", &top.join("weft").display().to_string());
        let units = work.path().join("units");
        std::fs::create_dir_all(&units).unwrap();
        std::fs::write(units.join("weft.service"), unit).unwrap();
        let verify = Command::new("systemd-analyze").arg("verify").arg(units.join("weft.service")).output().unwrap();
        let said = String::from_utf8_lossy(&verify.stderr);
        assert!(verify.status.success() && !said.contains("weft.service"), "systemd-analyze verify: {said}");
    } else {
        println!("note: systemd-analyze is not installed; the unit was not verified");
    }
}
