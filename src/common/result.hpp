// Result<T>: start-up and configuration errors are returned, never thrown. Spelled
// like std::expected (has_value, value, error, operator*, operator->) so that it can become an
// alias once the toolchain has C++23.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "common/assert.hpp"

namespace ringprobe {

struct Error {
    std::string message;
};

template <typename E>
struct Unexpected {
    E error;
};

template <typename E>
Unexpected<std::decay_t<E>> unexpected(E&& e) {
    return Unexpected<std::decay_t<E>>{std::forward<E>(e)};
}

inline Unexpected<Error> error(std::string message) {
    return Unexpected<Error>{Error{std::move(message)}};
}

template <typename T, typename E = Error>
class Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    template <typename G>
    Result(Unexpected<G> u) : v_(std::in_place_index<1>, E(std::move(u.error))) {}

    bool has_value() const { return v_.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() & {
        RP_ASSERT(has_value());
        return std::get<0>(v_);
    }
    const T& value() const& {
        RP_ASSERT(has_value());
        return std::get<0>(v_);
    }
    T&& value() && {
        RP_ASSERT(has_value());
        return std::get<0>(std::move(v_));
    }
    const E& error() const {
        RP_ASSERT(!has_value());
        return std::get<1>(v_);
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

private:
    std::variant<T, E> v_;
};

// Result<void>: success carries nothing.
template <typename E>
class Result<void, E> {
public:
    Result() = default;
    template <typename G>
    Result(Unexpected<G> u) : err_(E(std::move(u.error))), ok_(false) {}

    bool has_value() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const E& error() const {
        RP_ASSERT(!ok_);
        return err_;
    }

private:
    E err_{};
    bool ok_ = true;
};

}  // namespace ringprobe
