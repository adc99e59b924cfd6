//! (being written)

pub fn run(_args: Vec<std::ffi::OsString>) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
