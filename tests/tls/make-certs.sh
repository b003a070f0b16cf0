#!/bin/sh
# make-certs.sh: the TLS test certificates of ringprobe (docs/tls.md describes each file).
#
# Regenerates tests/fixtures/tls/ with the openssl CLI (3.0 or later). The output is committed,
# so tests never run this; run it again only to change a fixture. Good certificates are valid
# until 2099; the expired and not-yet-valid ones have fixed dates (2020 and 2090), so the
# fixtures age only in 2090. Keys are ECDSA P-256: cheap to handshake, like most modern sites.
#
# The openssl steps are tests/tls/lib.sh's, shared with make-corpus.sh.
set -eu
. "$(dirname "$0")/lib.sh"

out=${1:-$(dirname "$0")/../fixtures/tls}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

cat > ca.cnf <<'CNF'
[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
organizationName = optional
[v3_root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_inter]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_inter_noku]
basicConstraints = critical,CA:TRUE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_inter_noca]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $ENV::RP_SAN
[v3_leaf_nosan]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_self]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = $ENV::RP_SAN
CNF
rp_ca_init

# Roots and intermediates.
rp_key root.key p256
rp_csr root root.key "/O=ringprobe tests/CN=ringprobe Test Root CA"
rp_selfsign root root.key v3_root "$good_start" "$good_end"
rp_key inter.key p256
rp_csr inter inter.key "/O=ringprobe tests/CN=ringprobe Test Intermediate CA"
rp_sign inter root root.key v3_inter "$good_start" "$good_end"
rp_key other-root.key p256
rp_csr other-root other-root.key "/O=elsewhere tests/CN=Other Test Root CA"
rp_selfsign other-root other-root.key v3_root "$good_start" "$good_end"
rp_key other-inter.key p256
rp_csr other-inter other-inter.key "/O=elsewhere tests/CN=Other Test Intermediate CA"
rp_sign other-inter other-root other-root.key v3_inter "$good_start" "$good_end"
# An intermediate of the good root that expired: its chain is "expired (intermediate)".
rp_key inter-expired.key p256
rp_csr inter-expired inter-expired.key "/O=ringprobe tests/CN=ringprobe Expired Intermediate CA"
rp_sign inter-expired root root.key v3_inter 20200101000000Z 20210101000000Z
# CA:TRUE without a keyUsage extension (RFC 5280: no restriction; private CAs made with
# scripting libraries look like this), and one without basicConstraints at all (not a CA).
rp_key inter-noku.key p256
rp_csr inter-noku inter-noku.key "/O=ringprobe tests/CN=ringprobe Intermediate CA Without keyUsage"
rp_sign inter-noku root root.key v3_inter_noku "$good_start" "$good_end"
rp_key inter-noca.key p256
rp_csr inter-noca inter-noca.key "/O=ringprobe tests/CN=ringprobe Intermediate Without CA Flag"
rp_sign inter-noca root root.key v3_inter_noca "$good_start" "$good_end"

# Leaves. RP_SAN is read by the v3_leaf section.
leaf() {  # leaf NAME ISSUER CN SAN START END [EXT]
    rp_key "$1.key" p256; rp_csr "$1" "$1.key" "/O=ringprobe tests/CN=$3"
    RP_SAN=$4 rp_sign "$1" "$2" "$2.key" "${7:-v3_leaf}" "$5" "$6"
}
leaf good inter good.ringprobe.test "DNS:good.ringprobe.test,DNS:www.ringprobe.test" \
    "$good_start" "$good_end"
leaf wildcard inter wildcard.ringprobe.test "DNS:*.wild.ringprobe.test" "$good_start" "$good_end"
leaf cn-only inter cn.ringprobe.test "" "$good_start" "$good_end" v3_leaf_nosan
leaf expired inter expired.ringprobe.test "DNS:expired.ringprobe.test" \
    20200101000000Z 20210101000000Z
leaf notyet inter notyet.ringprobe.test "DNS:notyet.ringprobe.test" \
    20900101000000Z 20910101000000Z
leaf wrongname inter www.example.test "DNS:www.example.test" "$good_start" "$good_end"
leaf other other-inter good.ringprobe.test "DNS:good.ringprobe.test" "$good_start" "$good_end"
leaf under-expired inter-expired good.ringprobe.test "DNS:good.ringprobe.test" \
    "$good_start" "$good_end"
leaf under-noku inter-noku good.ringprobe.test "DNS:good.ringprobe.test" "$good_start" "$good_end"
leaf under-noku-wrongname inter-noku www.example.test "DNS:www.example.test" \
    "$good_start" "$good_end"
leaf under-noca inter-noca good.ringprobe.test "DNS:good.ringprobe.test" "$good_start" "$good_end"
leaf ip inter ip.ringprobe.test "DNS:ip.ringprobe.test,IP:127.0.0.1,IP:::1" \
    "$good_start" "$good_end"
# A root with the real root's name but another key, and a leaf it signed: the chain walks to the
# trusted root by name, but the signature does not verify ("other verification error").
rp_key fake-root.key p256
rp_csr fake-root fake-root.key "/O=ringprobe tests/CN=ringprobe Test Root CA"
rp_selfsign fake-root fake-root.key v3_root "$good_start" "$good_end"
leaf forged fake-root good.ringprobe.test "DNS:good.ringprobe.test" "$good_start" "$good_end"
rp_key self.key p256
rp_csr self self.key "/O=ringprobe tests/CN=self.ringprobe.test"
RP_SAN=DNS:self.ringprobe.test rp_selfsign self self.key v3_self "$good_start" "$good_end"

# Chains, in the order a server sends them, each with the key of its first certificate except
# where noted.
cat good.pem inter.pem > good-chain.pem
cat good.pem inter.pem root.pem > good-full-chain.pem
cat wildcard.pem inter.pem > wildcard-chain.pem
cat cn-only.pem inter.pem > cn-only-chain.pem
cat expired.pem inter.pem > expired-chain.pem
cat notyet.pem inter.pem > notyet-chain.pem
cat wrongname.pem inter.pem > wrongname-chain.pem
cat good.pem > no-intermediate-chain.pem               # key: good.key
cat inter.pem good.pem > wrong-order-chain.pem         # key: good.key (the leaf is second)
cat other.pem other-inter.pem other-root.pem > other-root-chain.pem
cat other.pem other-inter.pem > other-no-root-chain.pem
cat under-expired.pem inter-expired.pem > expired-intermediate-chain.pem
cat inter.pem root.pem > no-leaf-chain.pem              # key: inter.key
cp self.pem self-signed-chain.pem
cp forged.pem forged-chain.pem                          # key: forged.key
cat under-noku.pem inter-noku.pem > noku-chain.pem
cat under-noku-wrongname.pem inter-noku.pem > noku-wrongname-chain.pem
cat under-noca.pem inter-noca.pem > noca-chain.pem
cat ip.pem inter.pem > ip-chain.pem

for f in root inter other-root other-inter inter-expired good wildcard cn-only expired notyet \
        wrongname other under-expired self forged inter-noku inter-noca under-noku \
        under-noku-wrongname under-noca ip; do
    cp "$f.pem" "$out/$f.pem"
    cp "$f.key" "$out/$f.key"
done
cp ./*-chain.pem "$out/"
# DER of the private root, base64 on one line: the other form trustedRootCertificates takes.
openssl x509 -in root.pem -outform DER | base64 -w0 > "$out/root.der.b64"
echo "wrote $(ls "$out" | wc -l) files to $out"
