#!/bin/sh
# make-corpus.sh: a corpus of certificate chains for the differential test of ringprobe's TLS
# verdicts against OpenSSL's (tests/integration/tls_differential_test.cpp, docs/tls.md "How
# ringprobe's verdicts relate to OpenSSL's") and for the verify benchmark (bench/tls_bench.cpp).
#
#   tests/tls/make-corpus.sh DIR [small|large]
#
# Writes one directory per case under DIR and DIR/manifest, one line per case:
#   id|chain|key|trust|sni|host|openssl|what
# chain: the PEM a server sends (in the order sent); key: the first certificate's key; trust:
# the trusted roots; sni / host: the name a client sends and the Host it checks without SNI
# (an IP literal); openssl: `ok` or `error N` from `openssl verify` run on the same chain the
# way a TLS client sees it (the first certificate is the peer's, the others untrusted, the name
# through -verify_hostname or -verify_ip); what: the case in words.
#
# Cases: 2 to 4 certificates deep (leaf, 0-2 intermediates, root); intermediates with and
# without keyUsage; basicConstraints pathLen that holds or is exceeded; with and without
# SKI/AKI; DNS SAN, CN-only and IP SAN leaves; UTF8String and PrintableString names; RSA 2048,
# ECDSA P-256 and P-384; valid, expired, not yet valid, wrong name, wrong order, missing
# intermediate, foreign root (sent or not), an intermediate without CA:TRUE, and one whose
# keyUsage lacks keyCertSign. `small` is a few dozen (tools/test.sh), `large` several times that.
set -eu
. "$(dirname "$0")/lib.sh"  # the openssl steps, shared with make-certs.sh

out=${1:?usage: make-corpus.sh DIR [small|large]}
size=${2:-small}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

cat > ca.cnf <<'CNF'
[ca]
default_ca = corpus
[corpus]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
preserve = yes
[any]
commonName = supplied
organizationName = optional
[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[root_pl0]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[root_pl1]
basicConstraints = critical,CA:TRUE,pathlen:1
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[inter_ku_kid]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[inter_ku]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[inter_noku_kid]
basicConstraints = critical,CA:TRUE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[inter_noku]
basicConstraints = critical,CA:TRUE
[inter_pl0]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[inter_noku_pl0]
basicConstraints = critical,CA:TRUE,pathlen:0
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[inter_noca]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[inter_nocertsign]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf_kid]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $ENV::RP_SAN
[leaf]
basicConstraints = critical,CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = $ENV::RP_SAN
[leaf_nosan]
basicConstraints = critical,CA:FALSE
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[req_utf8]
distinguished_name = dn
string_mask = utf8only
[req_printable]
distinguished_name = dn
string_mask = default
[dn]
CNF
rp_ca_init

# One key per algorithm and role, made once: keys are shared between cases (each case trusts
# only its own root), never between a root and the foreign root a case is refused with.
for alg in rsa p256 p384; do
    for role in root foreign i1 i2 leaf; do
        rp_key "$role-$alg.key" "$alg"
    done
done

: > "$out/manifest"
n=0
# chain ID WHAT ALG_CA ALG_LEAF DEPTH ENC INTER_EXT ROOT_EXT NAMES FAULT
#   DEPTH 2..4 (certificates from leaf to root); INTER_EXT the ca.cnf section of every
#   intermediate except where FAULT changes one; NAMES san|cn|ip; FAULT valid|expired|notyet|
#   expired-inter|wrongname|wrongorder|missing|foreign|foreign-sent|noca|nocertsign
chain() {
    id=$1 what=$2 aca=$3 aleaf=$4 depth=$5 enc=$6 iext=$7 rext=$8 names=$9
    shift 9
    fault=$1
    n=$((n + 1))
    d="$out/$id"
    mkdir -p "$d"
    org="/O=ringprobe corpus"
    rp_csr "$id-root" "root-$aca.key" "$org/CN=Corpus Root $id" "req_$enc"
    rp_selfsign "$id-root" "root-$aca.key" "$rext" "$good_start" "$good_end"
    issuer="$id-root" issuer_key="root-$aca.key" sent=""
    i=1
    while [ "$i" -le $((depth - 2)) ]; do
        ext=$iext start=$good_start end=$good_end
        # The fault sits on the intermediate next to the leaf.
        if [ "$i" -eq $((depth - 2)) ]; then
            case $fault in
                noca) ext=inter_noca ;;
                nocertsign) ext=inter_nocertsign ;;
                expired-inter) start=20200101000000Z end=20210101000000Z ;;
            esac
        fi
        rp_csr "$id-i$i" "i$i-$aca.key" "$org/CN=Corpus Intermediate $i $id" "req_$enc"
        rp_sign "$id-i$i" "$issuer" "$issuer_key" "$ext" "$start" "$end"
        sent="$id-i$i.pem $sent"
        issuer="$id-i$i" issuer_key="i$i-$aca.key"
        i=$((i + 1))
    done
    start=$good_start end=$good_end
    case $fault in
        expired) start=20200101000000Z end=20210101000000Z ;;
        notyet) start=20900101000000Z end=20910101000000Z ;;
    esac
    dns="leaf.$id.corpus.test" ip="10.77.$((n / 200)).$((n % 200 + 1))" lext=leaf_kid
    case $iext in *_kid) ;; *) lext=leaf ;; esac
    case $names in
        san) cn=$dns san="DNS:$dns" ;;
        cn) cn=$dns san="" lext=leaf_nosan ;;
        ip) cn="corpus ip $id" san="DNS:ip.$id.corpus.test,IP:$ip,IP:fd00::$n" ;;
    esac
    rp_csr "$id-leaf" "leaf-$aleaf.key" "$org/CN=$cn" "req_$enc"
    RP_SAN=${san:-DNS:unused} rp_sign "$id-leaf" "$issuer" "$issuer_key" "$lext" "$start" "$end"
    # What the server sends, and what the client is told to trust.
    trust="$id-root.pem"
    case $fault in
        foreign | foreign-sent)
            rp_csr "$id-foreign" "foreign-$aca.key" "$org/CN=Corpus Foreign Root $id" "req_$enc"
            rp_selfsign "$id-foreign" "foreign-$aca.key" root "$good_start" "$good_end"
            trust="$id-foreign.pem"
            ;;
    esac
    # shellcheck disable=SC2086
    case $fault in
        missing) cat "$id-leaf.pem" > "$d/chain.pem" ;;
        wrongorder) cat $sent "$id-leaf.pem" > "$d/chain.pem" ;;
        foreign-sent) cat "$id-leaf.pem" $sent "$id-root.pem" > "$d/chain.pem" ;;
        *) cat "$id-leaf.pem" $sent > "$d/chain.pem" ;;
    esac
    cp "leaf-$aleaf.key" "$d/leaf.key"
    cp "$trust" "$d/trust.pem"
    # OpenSSL's verdict: the first certificate is the peer's, the rest untrusted.
    awk '/BEGIN CERT/{n++} n==1' "$d/chain.pem" > first.pem
    awk '/BEGIN CERT/{n++} n>1' "$d/chain.pem" > rest.pem
    name=$dns sni=$dns host=$dns
    [ "$fault" = wrongname ] && name="other.$id.corpus.test" sni=$name host=$name
    if [ "$names" = ip ]; then
        sni="" host=$ip name=$ip
        [ "$fault" = wrongname ] && host="10.78.0.1" name=$host
        check="-verify_ip $name"
    else
        check="-verify_hostname $name"
    fi
    untrusted=""
    [ -s rest.pem ] && untrusted="-untrusted rest.pem"
    # shellcheck disable=SC2086
    verdict=$(openssl verify -CAfile "$d/trust.pem" $untrusted $check first.pem 2>&1 || true)
    case $verdict in
        *": OK"*) ossl=ok ;;
        *) ossl="error $(printf '%s\n' "$verdict" | sed -n 's/^error \([0-9]*\) at.*/\1/p' |
            head -n 1)" ;;
    esac
    printf '%s|%s|%s|%s|%s|%s|%s|%s\n' "$id" "$d/chain.pem" "$d/leaf.key" "$d/trust.pem" \
        "$sni" "$host" "$ossl" "$what" >> "$out/manifest"
}

# The small corpus: every dimension at least once, every fault at least once.
small() {
    chain d2-p256-san "2 deep, P-256, SAN" p256 p256 2 printable inter_ku_kid root san valid
    chain d3-p256-san "3 deep, P-256, SAN" p256 p256 3 printable inter_ku_kid root san valid
    chain d4-p256-san "4 deep, P-256, SAN" p256 p256 4 utf8 inter_ku_kid root san valid
    chain d3-rsa-san "3 deep, RSA 2048" rsa rsa 3 printable inter_ku_kid root san valid
    chain d3-p384-san "3 deep, P-384" p384 p384 3 utf8 inter_ku_kid root san valid
    chain d3-mixed "RSA CAs, P-256 leaf" rsa p256 3 utf8 inter_ku_kid root san valid
    chain d3-p384-rsa "P-384 CAs, RSA leaf" p384 rsa 3 printable inter_ku_kid root san valid
    chain d3-noku "intermediate without keyUsage" p256 p256 3 printable inter_noku_kid root san \
        valid
    chain d4-noku "two intermediates without keyUsage" rsa p256 4 utf8 inter_noku_kid root san \
        valid
    chain d3-noku-nokid "no keyUsage, no SKI/AKI" p256 p256 3 printable inter_noku root san valid
    chain d3-nokid "no SKI/AKI" p384 p384 3 utf8 inter_ku root san valid
    chain d3-noku-wrongname "no keyUsage, wrong name" p256 p256 3 printable inter_noku_kid root \
        san wrongname
    chain d3-noku-expired "no keyUsage, leaf expired" p256 rsa 3 utf8 inter_noku_kid root san \
        expired
    chain d3-noku-ip "no keyUsage, IP SAN" p256 p256 3 printable inter_noku_kid root ip valid
    chain d3-cn "CN only" p256 p256 3 printable inter_ku_kid root cn valid
    chain d3-cn-wrongname "CN only, wrong name" rsa rsa 3 utf8 inter_ku_kid root cn wrongname
    chain d3-ip "IP SAN" p256 p256 3 utf8 inter_ku_kid root ip valid
    chain d3-ip-wrong "IP SAN, other IP" p256 p256 3 printable inter_ku_kid root ip wrongname
    chain d2-ip "2 deep, IP SAN" p384 p256 2 printable inter_ku_kid root ip valid
    chain d3-wrongname "wrong name" p256 p256 3 printable inter_ku_kid root san wrongname
    chain d3-expired "leaf expired" p256 p256 3 printable inter_ku_kid root san expired
    chain d3-notyet "leaf not yet valid" rsa p256 3 utf8 inter_ku_kid root san notyet
    chain d4-expired-inter "intermediate expired" p256 p256 4 printable inter_ku_kid root san \
        expired-inter
    chain d3-wrongorder "intermediate sent first" p256 p256 3 printable inter_ku_kid root san \
        wrongorder
    chain d3-missing "intermediate not sent" p256 p256 3 printable inter_ku_kid root san missing
    chain d4-missing "two intermediates, none sent" rsa rsa 4 utf8 inter_ku_kid root san missing
    chain d3-foreign "another root trusted" p256 p256 3 printable inter_ku_kid root san foreign
    chain d3-foreign-sent "another root trusted, root sent" p384 p256 3 utf8 inter_ku_kid root \
        san foreign-sent
    chain d2-foreign "2 deep, another root trusted" p256 p256 2 printable inter_ku_kid root san \
        foreign
    chain d3-noca "intermediate without CA:TRUE" p256 p256 3 printable inter_ku_kid root san noca
    chain d3-nocertsign "intermediate keyUsage without keyCertSign" p256 p256 3 printable \
        inter_ku_kid root san nocertsign
    chain d3-root-pl0 "root pathLen 0, one intermediate" p256 p256 3 printable inter_ku_kid \
        root_pl0 san valid
    chain d3-root-pl0-noku "root pathLen 0, intermediate without keyUsage" p256 p256 3 printable \
        inter_noku_kid root_pl0 san valid
    chain d4-root-pl1 "root pathLen 1, two intermediates" p256 p256 4 utf8 inter_ku_kid root_pl1 \
        san valid
    chain d4-inter-pl0 "intermediates pathLen 0, two of them" p256 p256 4 printable inter_pl0 \
        root san valid
    chain d4-noku-pl0 "no keyUsage, pathLen 0, two of them" p256 p256 4 printable inter_noku_pl0 \
        root san valid
    chain d3-inter-pl0 "intermediate pathLen 0" rsa p256 3 printable inter_pl0 root san valid
}

# The large corpus: the valid and faulty shapes over every algorithm and encoding.
large() {
    for aca in rsa p256 p384; do
        for aleaf in rsa p256 p384; do
            for enc in utf8 printable; do
                for iext in inter_ku_kid inter_noku_kid inter_ku inter_noku; do
                    for depth in 2 3 4; do
                        t="$aca-$aleaf-$enc-$iext-d$depth"
                        chain "$t" "$t" "$aca" "$aleaf" "$depth" "$enc" "$iext" root san valid
                    done
                    t="$aca-$aleaf-$enc-$iext"
                    chain "$t-ip" "$t IP" "$aca" "$aleaf" 3 "$enc" "$iext" root ip valid
                    chain "$t-cn" "$t CN" "$aca" "$aleaf" 3 "$enc" "$iext" root cn valid
                    chain "$t-wn" "$t wrong name" "$aca" "$aleaf" 3 "$enc" "$iext" root san \
                        wrongname
                    chain "$t-exp" "$t expired" "$aca" "$aleaf" 3 "$enc" "$iext" root san expired
                    chain "$t-for" "$t foreign" "$aca" "$aleaf" 3 "$enc" "$iext" root san foreign
                done
            done
        done
    done
}

case $size in
    small) small ;;
    large) large ;;
    *) echo "make-corpus.sh: size must be small or large, not '$size'" >&2; exit 2 ;;
esac
echo "wrote $n chains to $out/manifest"
