# lib.sh: the openssl steps make-certs.sh and make-corpus.sh share; each sources it (POSIX sh)
# before it changes directory. Every step works in the current directory, where the caller's
# ca.cnf (its extension and request sections), index.txt and serial are.

# Good certificates are valid from 2024 to the end of 2099.
good_start=20240101000000Z
good_end=20991231235959Z

# rp_ca_init: an empty database for `openssl ca`, and the SAN the leaf sections read.
rp_ca_init() {
    : > index.txt
    echo 1000 > serial
    RP_SAN=DNS:unused
    export RP_SAN
}

# rp_key FILE ALG: a private key; ALG is rsa (2048 bits), p256 or p384.
rp_key() {
    case $2 in
        rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null ;;
        p256) openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null ;;
        p384) openssl ecparam -name secp384r1 -genkey -noout -out "$1" 2>/dev/null ;;
        *) echo "lib.sh: unknown key algorithm '$2'" >&2; return 2 ;;
    esac
}

# rp_csr NAME KEY SUBJECT [REQ_SECTION]: NAME.csr; REQ_SECTION (a section of ca.cnf) sets how
# the subject's strings are encoded.
rp_csr() {
    if [ $# -ge 4 ]; then
        openssl req -new -key "$2" -config ca.cnf -section "$4" -subj "$3" -out "$1.csr"
    else
        openssl req -new -key "$2" -subj "$3" -out "$1.csr"
    fi
}

# rp_sign NAME ISSUER ISSUER_KEY EXT START END: NAME.pem from NAME.csr, signed by ISSUER.pem.
# `openssl ca` signs every certificate because `x509 -req` in 3.0 cannot set notBefore.
rp_sign() {
    openssl ca -batch -config ca.cnf -notext -in "$1.csr" -cert "$2.pem" -keyfile "$3" \
        -extensions "$4" -startdate "$5" -enddate "$6" -out "$1.pem" 2>/dev/null
}

# rp_selfsign NAME KEY EXT START END: NAME.pem from NAME.csr, signed with its own key.
rp_selfsign() {
    openssl ca -batch -config ca.cnf -notext -selfsign -in "$1.csr" -keyfile "$2" \
        -extensions "$3" -startdate "$4" -enddate "$5" -out "$1.pem" 2>/dev/null
}
