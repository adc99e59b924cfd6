//! DHCP in the boot, end to end: the real Debian cloud kernel in QEMU with this tree's initrd,
//! `ip=dhcp` (or no `ip=`), and the checker root reporting how the node came up.
//!
//! - QEMU's user network (slirp) as the DHCP server, the image fetched by host name.
//! - Two NICs, BOOTIF naming the second: only that one is configured.
//! - A small cluster's gateway: dnsmasq on a tap in a network namespace, fixed addresses by MAC,
//!   names in `cluster.home` that resolve afterwards, `diskless.hostname=dhcp`.
//! - A locked-down dnsmasq that does not know the node: a FATAL line after
//!   `rd.net.timeout.dhcp`, then the emergency action.
//!
//! The namespace tests need root, iproute2 and dnsmasq (dnsmasq-base); without them they skip
//! loudly, and under `CI=true` they fail. Nothing is configured outside the namespaces the
//! tests create: servers listen on 127.0.0.1 or inside those namespaces.

mod common;
#[path = "common/netboot.rs"]
mod netboot;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::{MAC, block, fixture};
use netboot::{NET_HOOK, ipv4_addresses, net_conf, net_conf_files};
use testbed::{BootLog, DnsmasqConfig, HttpServer, NetNs, Nic, RootSpec, require_dnsmasq};

/// The cluster's domain, which its gateway's dnsmasq serves.
const DOMAIN: &str = "cluster.home";
/// The server side of the tap, as the gateway on the cluster's subnet.
const GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
const TAP: &str = "tap0";
/// The image server's port inside the namespace (see `Cluster::new`).
const IMAGE_PORT: u16 = 8080;
const IMAGE_URL: &str = "http://images.cluster.home:8080/root.squashfs";
/// The name the default `worker-{sha1:6}` gives MAC.
const DERIVED_NAME: &str = "worker-64e59a";

fn image_files(fx: &common::Fixture, name: &str, spec: &RootSpec) -> BTreeMap<String, Vec<u8>> {
    let image = fx.squashfs_root(name, spec);
    BTreeMap::from([(
        "root.squashfs".to_owned(),
        std::fs::read(&image).expect("reading the image"),
    )])
}

/// The node booted its image, and the image's init ran to its end.
#[track_caller]
fn assert_reached_root(log: &BootLog) {
    log.assert_contains("ROOT-INIT-REACHED");
    log.assert_contains("ROOT-INIT-DONE");
    assert!(
        log.exited_cleanly(),
        "{}",
        log.failure_report("the checker did not power off cleanly")
    );
}

/// `ip=dhcp` on QEMU's user network, the image named by host name: slirp's DHCP gives
/// 10.0.2.15 and 10.0.2.3 as DNS server, and the lookup of `images.cluster.home` goes
/// through slirp's DNS proxy to a dnsmasq of the test's.
///
/// How: QEMU runs in a network namespace with only `lo`. There slirp's 10.0.2.2 is the
/// namespace's 127.0.0.1, where the HTTP server listens; slirp's DNS proxy forwards to the
/// first `nameserver` of /etc/resolv.conf, which QEMU sees as `127.0.0.1` (a file bind-mounted
/// in QEMU's private mount namespace only), where dnsmasq answers `images.cluster.home` with
/// 10.0.2.2. The host's resolvers are never asked. (`-netdev user,dns=10.0.2.2` does not do
/// it: slirp sends whatever address is its DNS to the host's resolvers, and every other alias
/// to 127.0.0.1.)
#[test]
fn ip_dhcp_on_the_user_network_fetches_the_image_by_host_name() {
    let Some(fx) = fixture() else { return };
    if !require_dnsmasq() {
        return;
    }
    let files = image_files(fx, "dhcp-slirp", &RootSpec::default().hook(NET_HOOK));
    let ns = NetNs::new("slirp-dns").expect("creating the network namespace");
    let dns = ns
        .dnsmasq(
            &DnsmasqConfig::new()
                .listen_address(Ipv4Addr::LOCALHOST)
                .host_record("images.cluster.home", Ipv4Addr::new(10, 0, 2, 2)),
        )
        .expect("starting dnsmasq");
    let server = ns
        .enter(|| HttpServer::serve_files(files))
        .expect("entering the namespace")
        .expect("http server in the namespace");
    let url = format!("http://images.cluster.home:{}/root.squashfs", server.port());
    let qemu = netboot::qemu(
        &fx.kernel.vmlinuz,
        &fx.initrd,
        "dhcp-slirp-by-name",
        &format!("ip=dhcp root=live:{url} rd.emergency=poweroff"),
    )
    .nic_with(
        Nic::new(MAC)
            .netdev_opt("domainname=cluster.home")
            .netdev_opt("dnssearch=cluster.home")
            .netdev_opt("dnssearch=lab.example"),
    );
    let qemu = ns
        .qemu_resolving_via(qemu, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .expect("QEMU wrapper");
    let log = netboot::run(&qemu);

    assert_reached_root(&log);
    assert_eq!(
        log.value("ROOT-HOSTNAME").as_deref(),
        Some(DERIVED_NAME),
        "{}",
        log.tail(40)
    );
    let record = common::record(&log);
    assert_eq!(record.interface.as_deref(), Some("ens3"), "{record:?}");
    assert_eq!(record.addresses, ["10.0.2.15/24"], "{record:?}");
    assert_eq!(
        record.image_url.as_deref(),
        Some(url.as_str()),
        "{record:?}"
    );
    // The name went through our DNS server, and the image through our HTTP server, once.
    let dns_log = dns.log();
    assert!(
        dns_log.contains("query[A] images.cluster.home from 127.0.0.1"),
        "the guest's lookup never reached dnsmasq:\n{dns_log}"
    );
    let gets: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(gets.len(), 1, "{gets:?}");

    // The real system resolves through what DHCP gave: slirp's DNS, domain and search list.
    let resolv = block(&log, "ROOT-RESOLV: ");
    assert!(
        resolv.contains(&"nameserver 10.0.2.3".to_owned()),
        "{resolv:?}"
    );
    assert!(
        resolv.contains(&"search cluster.home lab.example".to_owned()),
        "{resolv:?}"
    );
    let conf = net_conf(&log, "net-ens3.conf");
    for (key, value) in [
        ("DEVICE", "ens3"),
        ("IPV4ADDR", "10.0.2.15"),
        ("IPV4NETMASK", "255.255.255.0"),
        ("IPV4GATEWAY", "10.0.2.2"),
        ("IPV4DNS0", "10.0.2.3"),
        ("HOSTNAME", DERIVED_NAME),
        ("DNSDOMAIN", DOMAIN),
    ] {
        assert_eq!(
            conf.get(key).map(String::as_str),
            Some(value),
            "{key} in /run/net-ens3.conf: {conf:?}"
        );
    }
}

/// Two NICs on two different user networks (10.0.2.0/24 and 10.0.3.0/24), BOOTIF naming the
/// second: DHCP runs there only, so the node has 10.0.3.15 on eth1 and nothing on eth0, and
/// takes its name from the second NIC's MAC. With `net.ifnames=0` the NICs keep the kernel's
/// names.
#[test]
fn bootif_names_the_second_nic_and_only_it_is_configured() {
    let Some(fx) = fixture() else { return };
    const SECOND_MAC: &str = "52:54:00:ab:cd:02";
    // `printf '52:54:00:ab:cd:02\n' | sha1sum | head -c 6`, the default `worker-{sha1:6}`.
    const SECOND_NAME: &str = "worker-41ceea";
    let files = image_files(fx, "dhcp-bootif", &RootSpec::default().hook(NET_HOOK));
    // On the host's 127.0.0.1: 10.0.2.2 on the first network, 10.0.3.2 on the second.
    let server = HttpServer::serve_files(files).expect("http server");
    let url = format!("http://10.0.3.2:{}/root.squashfs", server.port());
    let qemu = netboot::qemu(
        &fx.kernel.vmlinuz,
        &fx.initrd,
        "dhcp-bootif-second-nic",
        &format!(
            "BOOTIF=01-{} ip=dhcp root=live:{url} net.ifnames=0 rd.emergency=poweroff",
            SECOND_MAC.replace(':', "-")
        ),
    )
    .nic_with(Nic::new(MAC))
    .nic_with(Nic::new(SECOND_MAC).netdev_opt("net=10.0.3.0/24"));
    let log = netboot::run(&qemu);

    assert_reached_root(&log);
    assert_eq!(
        log.value("ROOT-HOSTNAME").as_deref(),
        Some(SECOND_NAME),
        "{}",
        log.tail(40)
    );
    let addrs = ipv4_addresses(&log);
    assert_eq!(
        addrs.get("eth1").map(Vec::as_slice),
        Some(&["10.0.3.15/24".to_owned()][..]),
        "{addrs:?}"
    );
    assert_eq!(
        addrs.get("eth0").map(Vec::len).unwrap_or_default(),
        0,
        "eth0 must stay unconfigured: {addrs:?}"
    );
    assert_eq!(net_conf_files(&log), ["net-eth1.conf"]);
    let conf = net_conf(&log, "net-eth1.conf");
    assert_eq!(conf.get("IPV4ADDR").map(String::as_str), Some("10.0.3.15"));
    assert_eq!(
        conf.get("IPV4GATEWAY").map(String::as_str),
        Some("10.0.3.2")
    );

    let record = common::record(&log);
    assert_eq!(record.interface.as_deref(), Some("eth1"), "{record:?}");
    assert_eq!(record.mac.as_deref(), Some(SECOND_MAC), "{record:?}");
    assert_eq!(record.addresses, ["10.0.3.15/24"], "{record:?}");
    let dmesg = block(&log, "ROOT-DMESG: ").join("\n");
    assert!(
        !dmesg.contains(" is ens"),
        "renamed despite net.ifnames=0:\n{dmesg}"
    );
    assert!(
        dmesg.contains(&format!("boot interface eth1 ({SECOND_MAC})")),
        "{dmesg}"
    );
    assert!(dmesg.contains("eth1: 10.0.3.15/24 via 10.0.3.2"), "{dmesg}");
    assert!(
        !dmesg.contains("dhcp: eth0"),
        "DHCP ran on eth0 too:\n{dmesg}"
    );
}

/// A small cluster's gateway on a tap in a namespace: dnsmasq hands out fixed addresses by MAC, DNS
/// for `cluster.home`, and the image server's name. QEMU runs inside the namespace on the tap;
/// the test's HTTP server stays on the host's 127.0.0.1, relayed from 192.168.77.1.
struct Cluster {
    // Dropped in this order: the relay and dnsmasq before their namespace.
    relay: testbed::TcpRelay,
    dnsmasq: testbed::Dnsmasq,
    server: HttpServer,
    ns: NetNs,
}

impl Cluster {
    fn new(tag: &str, files: BTreeMap<String, Vec<u8>>, dnsmasq: DnsmasqConfig) -> Cluster {
        let ns = NetNs::new(tag).expect("creating the network namespace");
        ns.add_tap(TAP, &format!("{GATEWAY}/24"))
            .expect("creating the tap device");
        let dnsmasq = ns
            .dnsmasq(
                &dnsmasq
                    .interface(TAP)
                    .domain(DOMAIN)
                    .host_record("images.cluster.home", GATEWAY),
            )
            .expect("starting dnsmasq");
        let server = HttpServer::serve_files(files).expect("http server");
        let relay = ns
            // The namespace is private, so a fixed port collides with nothing and the image
            // URL can be known before the relay exists (DHCP's root path names it).
            .relay_tcp(
                SocketAddr::from((GATEWAY, IMAGE_PORT)),
                SocketAddr::from((Ipv4Addr::LOCALHOST, server.port())),
            )
            .expect("relay into the namespace");
        Cluster {
            relay,
            dnsmasq,
            server,
            ns,
        }
    }

    fn image_url(&self) -> String {
        debug_assert_eq!(self.relay.addr().port(), IMAGE_PORT);
        IMAGE_URL.to_owned()
    }

    /// Boots one node with MAC on the tap, inside the namespace.
    fn boot(&self, fx: &common::Fixture, name: &str, append: &str) -> BootLog {
        let qemu = netboot::qemu(&fx.kernel.vmlinuz, &fx.initrd, name, append).tap_nic(MAC, TAP);
        netboot::run(&self.ns.qemu(qemu).expect("QEMU wrapper"))
    }

    /// `nslookup <name> 192.168.77.1` from inside the namespace, after the boot.
    fn lookup(&self, name: &str) -> String {
        let output = self
            .ns
            .command("busybox")
            .args(["nslookup", name, &GATEWAY.to_string()])
            .output()
            .expect("running busybox nslookup in the namespace");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// Checker lines: the node resolves `name` through its /etc/resolv.conf (the lease's DNS).
fn nslookup_hook(name: &str) -> String {
    format!("nslookup {name} 2>&1 | sed 's/^/ROOT-NSLOOKUP: /'\n")
}

#[test]
fn dnsmasq_fixed_address_and_the_derived_name_resolves_in_cluster_home() {
    let Some(fx) = fixture() else { return };
    if !require_dnsmasq() {
        return;
    }
    let fqdn = format!("{DERIVED_NAME}.{DOMAIN}");
    let spec = RootSpec::default()
        .hook(NET_HOOK)
        .hook(&nslookup_hook(&fqdn));
    let cluster = Cluster::new(
        "dhcp-fixed",
        image_files(fx, "dhcp-fixed", &spec),
        DnsmasqConfig::new()
            // Only known MACs get an address, as on a locked-down cluster gateway.
            .dhcp_range("192.168.77.0,static,255.255.255.0,1h")
            .dhcp_host(MAC, Ipv4Addr::new(192, 168, 77, 50), None)
            .dhcp_option("option:root-path,/srv/roots/worker"),
    );
    let log = cluster.boot(
        fx,
        "dhcp-dnsmasq-fixed",
        &format!(
            "ip=dhcp root=live:{} rd.emergency=poweroff",
            cluster.image_url()
        ),
    );

    assert_reached_root(&log);
    let dnsmasq_log = cluster.dnsmasq.log();
    assert_eq!(
        log.value("ROOT-HOSTNAME").as_deref(),
        Some(DERIVED_NAME),
        "{}",
        log.tail(40)
    );
    // The server saw the name the node sent (option 12), and gave the fixed address.
    assert!(
        dnsmasq_log.contains(&format!("client provides name: {DERIVED_NAME}")),
        "{dnsmasq_log}"
    );
    assert!(
        dnsmasq_log.contains(&format!(
            "DHCPACK({TAP}) 192.168.77.50 {MAC} {DERIVED_NAME}"
        )),
        "{dnsmasq_log}"
    );
    let addrs = ipv4_addresses(&log);
    assert_eq!(
        addrs.get("ens3").map(Vec::as_slice),
        Some(&["192.168.77.50/24".to_owned()][..]),
        "{addrs:?}"
    );
    let conf = net_conf(&log, "net-ens3.conf");
    for (key, value) in [
        ("IPV4ADDR", "192.168.77.50"),
        ("IPV4NETMASK", "255.255.255.0"),
        ("IPV4GATEWAY", "192.168.77.1"),
        ("IPV4DNS0", "192.168.77.1"),
        ("HOSTNAME", DERIVED_NAME),
        ("DNSDOMAIN", DOMAIN),
        ("ROOTSERVER", "192.168.77.1"),
        ("ROOTPATH", "/srv/roots/worker"),
    ] {
        assert_eq!(
            conf.get(key).map(String::as_str),
            Some(value),
            "{key} in /run/net-ens3.conf: {conf:?}"
        );
    }
    let resolv = block(&log, "ROOT-RESOLV: ");
    assert!(
        resolv.contains(&"nameserver 192.168.77.1".to_owned()),
        "{resolv:?}"
    );
    assert!(
        resolv
            .iter()
            .any(|l| l == "domain cluster.home" || l == "search cluster.home"),
        "{resolv:?}"
    );
    // The node's own name resolves in the cluster, from the node (through its resolv.conf)
    // and from the gateway's side.
    let from_node = block(&log, "ROOT-NSLOOKUP: ").join("\n");
    assert!(
        from_node.contains("192.168.77.50"),
        "the node could not resolve {fqdn}:\n{from_node}"
    );
    let from_gateway = cluster.lookup(&fqdn);
    assert!(
        from_gateway.contains("192.168.77.50"),
        "dnsmasq does not resolve {fqdn}:\n{from_gateway}\n{dnsmasq_log}"
    );
    let lease =
        testbed::netns::lease_for(&cluster.dnsmasq.leases(), MAC).map(|fields| fields.join(" "));
    assert!(
        lease
            .as_deref()
            .is_some_and(|l| l.contains("192.168.77.50") && l.contains(DERIVED_NAME)),
        "{lease:?}"
    );
    let gets = cluster
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.status == Some(200))
        .count();
    assert_eq!(gets, 1, "{:?}", cluster.server.requests());
}

/// `diskless.hostname=dhcp` with a name in dnsmasq's `dhcp-host`: the node takes that name
/// (a name like "k8s-node3"), everywhere the real system looks, and resolves under it.
#[test]
fn hostname_dhcp_takes_the_name_dnsmasq_gives() {
    let Some(fx) = fixture() else { return };
    if !require_dnsmasq() {
        return;
    }
    const GIVEN: &str = "k8s-node3";
    let fqdn = format!("{GIVEN}.{DOMAIN}");
    let spec = RootSpec::default()
        .hook(NET_HOOK)
        .hook(&nslookup_hook(&fqdn));
    let cluster = Cluster::new(
        "dhcp-named",
        image_files(fx, "dhcp-named", &spec),
        DnsmasqConfig::new()
            .dhcp_range("192.168.77.0,static,255.255.255.0,1h")
            .dhcp_host(MAC, Ipv4Addr::new(192, 168, 77, 33), Some(GIVEN)),
    );
    let log = cluster.boot(
        fx,
        "dhcp-dnsmasq-hostname",
        &format!(
            "ip=dhcp diskless.hostname=dhcp root=live:{} rd.emergency=poweroff",
            cluster.image_url()
        ),
    );

    assert_reached_root(&log);
    assert_eq!(
        log.value("ROOT-HOSTNAME").as_deref(),
        Some(GIVEN),
        "{}",
        log.tail(40)
    );
    assert_eq!(log.value("ROOT-ETC-HOSTNAME").as_deref(), Some(GIVEN));
    let hosts = block(&log, "ROOT-HOSTS: ");
    assert!(
        hosts
            .iter()
            .any(|l| l.starts_with("127.0.0.1") && l.contains(GIVEN)),
        "{hosts:?}"
    );
    assert!(
        !hosts.iter().any(|l| l.contains(DERIVED_NAME)),
        "the derived name must not linger: {hosts:?}"
    );
    assert_eq!(common::record(&log).hostname.as_deref(), Some(GIVEN));
    let conf = net_conf(&log, "net-ens3.conf");
    assert_eq!(conf.get("HOSTNAME").map(String::as_str), Some(GIVEN));
    assert_eq!(
        conf.get("IPV4ADDR").map(String::as_str),
        Some("192.168.77.33")
    );
    let dnsmasq_log = cluster.dnsmasq.log();
    assert!(
        dnsmasq_log.contains(&format!("DHCPACK({TAP}) 192.168.77.33 {MAC} {GIVEN}")),
        "{dnsmasq_log}"
    );
    let from_node = block(&log, "ROOT-NSLOOKUP: ").join("\n");
    assert!(
        from_node.contains("192.168.77.33"),
        "the node could not resolve {fqdn}:\n{from_node}"
    );
}

/// A locked-down dnsmasq (it hands out addresses to known MACs only) that does not know this
/// node: it hears the DISCOVERs and never answers. The boot ends in a FATAL line naming the
/// interface after `rd.net.timeout.dhcp=5`, then the emergency power-off; the image is never
/// fetched.
#[test]
fn unknown_node_gets_no_answer_and_fails_plainly_after_the_dhcp_timeout() {
    let Some(fx) = fixture() else { return };
    if !require_dnsmasq() {
        return;
    }
    let cluster = Cluster::new(
        "dhcp-silent",
        image_files(fx, "dhcp-silent", &RootSpec::default()),
        DnsmasqConfig::new()
            .dhcp_range("192.168.77.0,static,255.255.255.0,1h")
            .dhcp_host("52:54:00:00:00:99", Ipv4Addr::new(192, 168, 77, 99), None),
    );
    let log = cluster.boot(
        fx,
        "dhcp-no-answer",
        &format!(
            "ip=dhcp rd.net.timeout.dhcp=5 root=live:{} rd.emergency=poweroff",
            cluster.image_url()
        ),
    );

    // The console line; the same text also comes through the kernel log with a timestamp.
    let fatal = log
        .lines
        .iter()
        .map(|(_, line)| line.as_str())
        .find(|line| line.contains("diskless: FATAL network: "))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{}", log.failure_report("no FATAL network line")));
    assert!(fatal.contains("no DHCP server answered on ens3"), "{fatal}");
    // "... N DISCOVERs sent in S s": S is the timeout, give or take scheduling.
    let secs = fatal
        .split(" sent in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse::<f64>().ok());
    assert!(
        secs.is_some_and(|s| (5.0..7.0).contains(&s)),
        "the wait was not rd.net.timeout.dhcp=5: {fatal}"
    );
    log.assert_contains("diskless: powering off in");
    log.assert_not_contains("ROOT-INIT-REACHED");
    assert!(log.exited_cleanly(), "{}", log.outcome());

    let dnsmasq_log = cluster.dnsmasq.log();
    let discovers = dnsmasq_log
        .lines()
        .filter(|l| l.contains(&format!("DHCPDISCOVER({TAP}) {MAC} no address available")))
        .count();
    assert!(
        discovers >= 2,
        "the node should have asked, and retried:\n{dnsmasq_log}"
    );
    assert!(
        cluster.server.requests().is_empty(),
        "{:?}",
        cluster.server.requests()
    );
}

/// `root=dhcp`: the root comes from the lease's root path (option 17), here an image URL
/// with a host name that the same dnsmasq resolves.
#[test]
fn root_dhcp_boots_the_image_the_root_path_names() {
    let Some(fx) = fixture() else { return };
    if !require_dnsmasq() {
        return;
    }
    let cluster = Cluster::new(
        "dhcp-root-path",
        image_files(fx, "dhcp-root-path", &RootSpec::default()),
        DnsmasqConfig::new()
            .dhcp_range("192.168.77.0,static,255.255.255.0,1h")
            .dhcp_host(MAC, Ipv4Addr::new(192, 168, 77, 50), None)
            .dhcp_option(&format!("option:root-path,{IMAGE_URL}")),
    );
    let log = cluster.boot(
        fx,
        "dhcp-root-path",
        "ip=dhcp root=dhcp rd.emergency=poweroff",
    );

    assert_reached_root(&log);
    let dmesg = block(&log, "ROOT-DMESG: ").join("\n");
    assert!(
        dmesg.contains(&format!("root path from DHCP: {IMAGE_URL}")),
        "{dmesg}"
    );
    assert_eq!(common::record(&log).image_url.as_deref(), Some(IMAGE_URL));
    assert_eq!(log.value("ROOT-HOSTNAME").as_deref(), Some(DERIVED_NAME));
    assert_eq!(
        cluster
            .server
            .requests()
            .iter()
            .filter(|r| r.method == "GET")
            .count(),
        1
    );
}

/// `cargo xtask fleet`'s output drives a real dnsmasq and the node's kernel arguments: the
/// inventory lists the node's MAC with an address and no name, so dnsmasq hands out the
/// name the node derives itself (a gateway's list of known MACs, generated), and the node boots
/// with the APPEND line of its generated `pxelinux.cfg/01-<mac>`.
#[test]
fn fleet_output_boots_a_node_through_dnsmasq_with_its_name_and_address() {
    let Some(fx) = fixture() else { return };
    if !require_dnsmasq() {
        return;
    }
    const ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 40);
    let options = xtask::fleet::Options {
        template: diskless::identity::HostnameTemplate::default(),
        append: format!("root=live:{IMAGE_URL} ip=dhcp rd.emergency=poweroff"),
        kernel: "vmlinuz".to_owned(),
        initrd: "diskless.img".to_owned(),
    };
    let fleet = xtask::fleet::generate(
        &format!("{MAC} {ADDRESS}\n52:54:00:ab:cd:ef k8s-node3 192.168.77.41\n"),
        &options,
    )
    .expect("generating the fleet files");
    assert!(fleet.warnings.is_empty(), "{:?}", fleet.warnings);
    let file = |name: &str| {
        fleet
            .files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, text)| text.clone())
            .unwrap_or_else(|| panic!("no {name} among the generated files"))
    };
    let hosts = fx.scratch.join("fleet-dnsmasq-hosts.conf");
    std::fs::write(&hosts, file("dnsmasq-hosts.conf")).expect("writing the dnsmasq file");
    let pxe = file(&format!("pxelinux.cfg/01-{}", MAC.replace(':', "-")));
    let append = pxe
        .lines()
        .find_map(|l| l.trim().strip_prefix("APPEND "))
        .expect("an APPEND line")
        .to_owned();

    let spec = RootSpec::default()
        .hook(NET_HOOK)
        .hook(&nslookup_hook(&format!("{DERIVED_NAME}.{DOMAIN}")));
    let cluster = Cluster::new(
        "fleet",
        image_files(fx, "fleet", &spec),
        DnsmasqConfig::new()
            .dhcp_range("192.168.77.0,static,255.255.255.0,1h")
            .arg(&format!("--conf-file={}", hosts.display())),
    );
    // pxelinux's SYSAPPEND 2 adds BOOTIF=.
    let log = cluster.boot(fx, "dhcp-fleet", &format!("{append} {}", common::BOOTIF));

    assert_reached_root(&log);
    assert_eq!(log.value("ROOT-HOSTNAME").as_deref(), Some(DERIVED_NAME));
    let conf = net_conf(&log, "net-ens3.conf");
    assert_eq!(
        conf.get("IPV4ADDR").map(String::as_str),
        Some("192.168.77.40"),
        "{conf:?}"
    );
    let dnsmasq_log = cluster.dnsmasq.log();
    assert!(
        dnsmasq_log.contains(&format!(
            "DHCPACK({TAP}) 192.168.77.40 {MAC} {DERIVED_NAME}"
        )),
        "{dnsmasq_log}"
    );
    // DNS agrees: the server resolves the derived name to the node's address.
    let answer = cluster.lookup(&format!("{DERIVED_NAME}.{DOMAIN}"));
    assert!(answer.contains("192.168.77.40"), "{answer}");
}
