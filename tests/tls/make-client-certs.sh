#!/bin/sh
# make-client-certs.sh DIR: client certificates for the mTLS tests, made when a test runs (keys
# are not committed: they are cheap to make and every run gets its own).
#
#   client-ca.pem               the CA a server trusts for its clients (ssl_client_certificate)
#   client.pem, client.key      a client certificate it issued, valid until 2099
#   client-expired.pem/.key     one it issued that expired in 2021
#   other-ca.pem                another CA, which the server does not trust
#   client-other.pem/.key       a client certificate that CA issued
#
# Keys are ECDSA P-256 and mode 0600 (ringprobe refuses a key file others can read). The openssl
# steps are tests/tls/lib.sh's, shared with make-certs.sh.
set -eu
. "$(dirname "$0")/lib.sh"

out=${1:?usage: make-client-certs.sh DIR}
mkdir -p "$out"
cd "$out"
umask 077

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
[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
rp_ca_init

rp_key client-ca.key p256
rp_csr client-ca client-ca.key "/O=ringprobe tests/CN=ringprobe Test Client CA"
rp_selfsign client-ca client-ca.key v3_root "$good_start" "$good_end"
rp_key other-ca.key p256
rp_csr other-ca other-ca.key "/O=elsewhere tests/CN=Other Test Client CA"
rp_selfsign other-ca other-ca.key v3_root "$good_start" "$good_end"

client() {  # client NAME ISSUER CN START END
    rp_key "$1.key" p256
    rp_csr "$1" "$1.key" "/O=ringprobe tests/CN=$3"
    rp_sign "$1" "$2" "$2.key" v3_client "$4" "$5"
}
client client client-ca probe.ringprobe.test "$good_start" "$good_end"
client client-expired client-ca expired-probe.ringprobe.test 20200101000000Z 20210101000000Z
client client-other other-ca other-probe.ringprobe.test "$good_start" "$good_end"
chmod 600 ./*.key
rm -f ./*.csr index.txt* serial* ./[0-9A-F][0-9A-F]*.pem
