//! The boot server's side of node identity, for clusters whose gateway runs dnsmasq and gives
//! addresses to known MACs only: an inventory of MACs, optionally with a name and an address
//! each, turned into what dnsmasq, pxelinux and iPXE need, with the names the nodes give
//! themselves. Pure: text in, files and warnings out.
//!
//! Inventory lines: `MAC [NAME|-] [IPv4]`, whitespace-separated; blank lines and `#` comments
//! are skipped. Without a name (or with `-`) the node's name comes from the template, as the
//! init derives it; with one, the node takes the name DHCP gives (`diskless.hostname=dhcp`),
//! which is this name.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use anyhow::{Context, Result, bail};
use diskless::identity::{HostnameTemplate, Mac, validate_hostname};

/// One node of the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub mac: Mac,
    pub name: String,
    /// The name was given in the inventory (else derived from the template).
    pub named: bool,
    pub address: Option<Ipv4Addr>,
    /// `line N`, for messages.
    pub line: usize,
}

/// What goes into the boot entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub template: HostnameTemplate,
    /// Kernel arguments every node gets (`root=live:... ip=dhcp ...`).
    pub append: String,
    /// The kernel and initrd as pxelinux and iPXE fetch them (paths or URLs).
    pub kernel: String,
    pub initrd: String,
}

/// Generated files (path relative to the output directory, contents) and warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    pub nodes: Vec<Node>,
    pub files: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

/// Reads the inventory. Malformed lines are errors naming the line; duplicates are warnings
/// (see [`generate`]).
pub fn parse_inventory(text: &str, template: &HostnameTemplate) -> Result<Vec<Node>> {
    let mut nodes = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let body = raw.split('#').next().unwrap_or_default().trim();
        if body.is_empty() {
            continue;
        }
        let fields: Vec<&str> = body.split_whitespace().collect();
        let (mac_text, rest) = fields.split_first().context("an empty line")?;
        let mac: Mac = mac_text
            .parse()
            .with_context(|| format!("inventory line {line}: {mac_text:?}"))?;
        let (mut name, mut address) = (None, None);
        for field in rest {
            if let Ok(ip) = field.parse::<Ipv4Addr>() {
                if address.replace(ip).is_some() {
                    bail!("inventory line {line}: two addresses");
                }
            } else if *field == "-" {
            } else if name.replace((*field).to_owned()).is_some() {
                bail!(
                    "inventory line {line}: {field:?} is neither an IPv4 address nor the only name"
                );
            }
        }
        let named = name.is_some();
        let name = match name {
            Some(name) => {
                let name = name.to_ascii_lowercase();
                validate_hostname(&name).with_context(|| format!("inventory line {line}"))?;
                name
            }
            None => template
                .render(&mac, None)
                .with_context(|| format!("inventory line {line}: naming {mac}"))?,
        };
        nodes.push(Node {
            mac,
            name,
            named,
            address,
            line,
        });
    }
    if nodes.is_empty() {
        bail!("the inventory lists no node");
    }
    Ok(nodes)
}

/// Duplicate MACs, names shared by different MACs and addresses given twice.
pub fn warnings(nodes: &[Node]) -> Vec<String> {
    let mut out = Vec::new();
    let mut by_mac: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut by_name: BTreeMap<&str, Vec<&Node>> = BTreeMap::new();
    let mut by_addr: BTreeMap<Ipv4Addr, Vec<usize>> = BTreeMap::new();
    for node in nodes {
        by_mac
            .entry(node.mac.to_string())
            .or_default()
            .push(node.line);
        by_name.entry(&node.name).or_default().push(node);
        if let Some(ip) = node.address {
            by_addr.entry(ip).or_default().push(node.line);
        }
    }
    let lines = |l: &[usize]| {
        l.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (mac, at) in by_mac.iter().filter(|(_, at)| at.len() > 1) {
        out.push(format!(
            "WARNING: MAC {mac} is listed on lines {}",
            lines(at)
        ));
    }
    for (name, list) in &by_name {
        let mut macs: Vec<String> = list.iter().map(|n| n.mac.to_string()).collect();
        macs.sort();
        macs.dedup();
        if macs.len() > 1 {
            let at: Vec<usize> = list.iter().map(|n| n.line).collect();
            out.push(format!(
                "WARNING: name {name} is given to {} (lines {}){}",
                macs.join(" and "),
                lines(&at),
                if list.iter().any(|n| !n.named) {
                    ": a longer {sha1:N} in the template, or a name in the inventory, tells them apart"
                } else {
                    ""
                }
            ));
        }
    }
    for (ip, at) in by_addr.iter().filter(|(_, at)| at.len() > 1) {
        out.push(format!(
            "WARNING: address {ip} is given on lines {}",
            lines(at)
        ));
    }
    out
}

/// The kernel arguments of one node: the common ones, then how it takes its name.
fn node_append(node: &Node, options: &Options) -> String {
    let naming = if node.named {
        "diskless.hostname=dhcp".to_owned()
    } else {
        format!("diskless.hostname={}", options.template.as_str())
    };
    format!("{} {naming}", options.append.trim())
}

/// dnsmasq's `dhcp-host=` lines: the node's address and its name, so DHCP, DNS and the node
/// agree (a locked-down gateway's list of known MACs).
pub fn dnsmasq_hosts(nodes: &[Node]) -> String {
    let mut out = String::from(
        "# Generated by `cargo xtask fleet`: one line per node, its name as the node derives it.\n\
         # Load with conf-file= (or put in /etc/dnsmasq.d/); with dhcp-range=<net>,static only these get addresses.\n",
    );
    for node in nodes {
        let _ = match node.address {
            Some(ip) => writeln!(out, "dhcp-host={},{ip},{}", node.mac, node.name),
            None => writeln!(out, "dhcp-host={},{}", node.mac, node.name),
        };
    }
    out
}

/// `pxelinux.cfg/01-<mac>`: the node's own entry (pxelinux looks for it first).
pub fn pxelinux_entry(node: &Node, options: &Options) -> (String, String) {
    let path = format!("pxelinux.cfg/01-{}", node.mac.to_string().replace(':', "-"));
    let text = format!(
        "# {name} (generated by `cargo xtask fleet`)\n\
         DEFAULT diskless\n\
         LABEL diskless\n  \
           KERNEL {kernel}\n  \
           INITRD {initrd}\n  \
           APPEND {append}\n  \
           SYSAPPEND 2\n",
        name = node.name,
        kernel = options.kernel,
        initrd = options.initrd,
        append = node_append(node, options),
    );
    (path, text)
}

/// One iPXE script for the whole fleet: a label per MAC (`${net0/mac:hexraw}`), unknown
/// nodes stop with their MAC on the screen.
pub fn ipxe_script(nodes: &[Node], options: &Options) -> String {
    let mut out = String::from(
        "#!ipxe\n# Generated by `cargo xtask fleet`.\n\
         goto node-${net0/mac:hexraw} || goto unknown\n",
    );
    for node in nodes {
        let _ = write!(
            out,
            "\n:node-{hex}\n# {name}\n\
             kernel {kernel} {append} BOOTIF=01-${{net0/mac:hexhyp}}\n\
             initrd {initrd}\n\
             boot\n",
            hex = node.mac.hex12(),
            name = node.name,
            kernel = options.kernel,
            initrd = options.initrd,
            append = node_append(node, options),
        );
    }
    out.push_str("\n:unknown\necho this node (${net0/mac}) is not in the inventory\nshell\n");
    out
}

/// Everything for the inventory `text`.
pub fn generate(text: &str, options: &Options) -> Result<Fleet> {
    let listed = parse_inventory(text, &options.template)?;
    let warnings = warnings(&listed);
    // A MAC listed twice keeps its first line everywhere (and a warning): two dhcp-host
    // lines or two iPXE labels for one MAC would leave the choice to the server.
    let mut seen = std::collections::BTreeSet::new();
    let nodes: Vec<Node> = listed
        .into_iter()
        .filter(|n| seen.insert(n.mac.to_string()))
        .collect();
    let mut files = vec![("dnsmasq-hosts.conf".to_owned(), dnsmasq_hosts(&nodes))];
    files.extend(nodes.iter().map(|node| pxelinux_entry(node, options)));
    files.push(("boot.ipxe".to_owned(), ipxe_script(&nodes, options)));
    Ok(Fleet {
        warnings,
        nodes,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            template: HostnameTemplate::default(),
            append: "root=live:http://10.0.0.1/root.squashfs ip=dhcp".to_owned(),
            kernel: "vmlinuz".to_owned(),
            initrd: "diskless.img".to_owned(),
        }
    }

    #[test]
    fn inventory_lines_give_names_and_addresses() {
        let text = "# cluster nodes\n52:54:00:12:34:56 192.168.77.40\n\
                    52-54-00-AB-CD-EF k8s-node3 192.168.77.41  # named\n\
                    525400000001 -\n";
        let nodes = parse_inventory(text, &HostnameTemplate::default()).expect("parses");
        let rows: Vec<(String, &str, bool, Option<Ipv4Addr>)> = nodes
            .iter()
            .map(|n| (n.mac.to_string(), n.name.as_str(), n.named, n.address))
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "52:54:00:12:34:56".to_owned(),
                    "worker-64e59a",
                    false,
                    Some(Ipv4Addr::new(192, 168, 77, 40))
                ),
                (
                    "52:54:00:ab:cd:ef".to_owned(),
                    "k8s-node3",
                    true,
                    Some(Ipv4Addr::new(192, 168, 77, 41))
                ),
                (
                    "52:54:00:00:00:01".to_owned(),
                    nodes[2].name.as_str(),
                    false,
                    None
                ),
            ]
        );
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_line() {
        let cases = [
            ("nonsense\n", "inventory line 1"),
            (
                "52:54:00:12:34:56 a b\n",
                "inventory line 1: \"b\" is neither",
            ),
            (
                "\n52:54:00:12:34:56 1.2.3.4 5.6.7.8\n",
                "inventory line 2: two addresses",
            ),
            ("52:54:00:12:34:56 Bad_Name\n", "inventory line 1"),
            ("# nothing\n", "the inventory lists no node"),
        ];
        for (text, want) in cases {
            let err = parse_inventory(text, &HostnameTemplate::default())
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn duplicates_and_collisions_are_warned_about() {
        let short = HostnameTemplate::parse("w-{sha1:1}").expect("template");
        // Among 17 MACs two must share one hex digit.
        let mut text: String = (0..17)
            .map(|i| format!("52:54:00:00:00:{i:02x}\n"))
            .collect();
        text.push_str("52:54:00:00:00:00 10.0.0.5\naa:bb:cc:dd:ee:ff 10.0.0.5\n");
        let nodes = parse_inventory(&text, &short).expect("parses");
        let warnings = warnings(&nodes);
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("WARNING: MAC 52:54:00:00:00:00 is listed on lines 1, 18")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("WARNING: name w-") && w.contains("{sha1:N}")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w == "WARNING: address 10.0.0.5 is given on lines 18, 19"),
            "{warnings:?}"
        );
        let clean =
            parse_inventory("52:54:00:12:34:56\n", &HostnameTemplate::default()).expect("parses");
        assert_eq!(super::warnings(&clean), Vec::<String>::new());
    }

    #[test]
    fn files_for_dnsmasq_pxelinux_and_ipxe() {
        let fleet = generate(
            "52:54:00:12:34:56 192.168.77.40\n52:54:00:ab:cd:ef k8s-node3\n",
            &options(),
        )
        .expect("generates");
        let file = |name: &str| {
            fleet
                .files
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.clone())
                .unwrap_or_default()
        };
        let hosts: Vec<String> = file("dnsmasq-hosts.conf")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        assert_eq!(
            hosts,
            [
                "dhcp-host=52:54:00:12:34:56,192.168.77.40,worker-64e59a",
                "dhcp-host=52:54:00:ab:cd:ef,k8s-node3"
            ]
        );
        let pxe = file("pxelinux.cfg/01-52-54-00-12-34-56");
        assert!(
            pxe.contains("  KERNEL vmlinuz\n  INITRD diskless.img\n"),
            "{pxe}"
        );
        assert!(pxe.contains(
            "  APPEND root=live:http://10.0.0.1/root.squashfs ip=dhcp diskless.hostname=worker-{sha1:6}\n  SYSAPPEND 2\n"
        ), "{pxe}");
        assert!(file("pxelinux.cfg/01-52-54-00-ab-cd-ef").contains("diskless.hostname=dhcp"));
        let ipxe = file("boot.ipxe");
        assert!(ipxe.starts_with("#!ipxe\n"));
        assert!(
            ipxe.contains("\n:node-525400abcdef\n# k8s-node3\nkernel vmlinuz root=live:"),
            "{ipxe}"
        );
        assert!(ipxe.contains("goto node-${net0/mac:hexraw} || goto unknown"));
        assert!(fleet.warnings.is_empty());

        // A MAC listed twice keeps its first line in every file.
        let fleet = generate(
            "52:54:00:12:34:56 10.0.0.1\n52:54:00:12:34:56 10.0.0.2\n",
            &options(),
        )
        .expect("generates");
        assert_eq!(fleet.nodes.len(), 1);
        assert_eq!(fleet.files.len(), 3);
        assert_eq!(fleet.warnings.len(), 1);
        assert!(
            fleet.files[0]
                .1
                .contains("dhcp-host=52:54:00:12:34:56,10.0.0.1,")
        );
        assert!(!fleet.files[0].1.contains("10.0.0.2"));
    }
}
