// The command line of every ringprobe binary, on CLI11: one declaration per flag gives both the
// parsing and the --help text, so the two cannot disagree. Every binary takes `--flag value`
// and `--flag=value`, the last of a repeated flag wins, and a usage error prints
// "PROGRAM [COMMAND]: --flag: what is wrong (see --help)" and exits 2.
//
// Numbers are read here rather than by CLI11, whose conversion takes a leading 0 as octal and
// 0x as hexadecimal: "--workers 010" is ten workers, as anyone typing it means.
#pragma once

#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringprobe::command_line {

inline constexpr int kExitUsage = 2;
// parse()'s answer when the program should go on with what it parsed.
inline constexpr int kContinue = -1;

// Settings every binary's parser shares. Call before adding options and subcommands: CLI11
// copies the option defaults into each subcommand as it is made.
inline void configure(CLI::App& app) {
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.get_formatter()->column_width(32);
}

// "ringprobe run": the program and the subcommands the parse had reached, for error messages.
inline std::string command_path(const CLI::App& app) {
    std::string path = app.get_name();
    const CLI::App* at = &app;
    for (std::vector<CLI::App*> subs = at->get_subcommands(); !subs.empty();
         subs = at->get_subcommands()) {
        at = subs.front();
        path += " " + at->get_name();
    }
    return path;
}

// Parses argv into the options declared on app. Returns kContinue when the program goes on, 0
// after printing the help of the (sub)command asked for on stdout, kExitUsage after printing a
// usage error on stderr.
inline int parse(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::fputs(app.help().c_str(), stdout);
        return 0;
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "%s: %s (see --help)\n", command_path(app).c_str(), e.what());
        return kExitUsage;
    }
    return kContinue;
}

// A whole decimal number and nothing else: no sign, no spaces, no base prefix.
template <typename T>
bool parse_decimal(std::string_view s, T& out) {
    const char* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, out);
    return !s.empty() && ec == std::errc{} && p == end;
}

// --flag N: a whole number from lo to hi into target (left as it is when the flag is absent).
template <typename T>
CLI::Option* add_number(CLI::App& app, const std::string& flag, T& target, T lo, T hi,
                        const std::string& help, const std::string& value_name = "N") {
    CLI::Validator range(
        [lo, hi](std::string& s) -> std::string {
            T v{};
            if (parse_decimal(s, v) && v >= lo && v <= hi) {
                return {};
            }
            return "takes a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                   ", not '" + s + "'";
        },
        "", "");
    return app
        .add_option_function<std::string>(
            flag, [&target](const std::string& s) { parse_decimal(s, target); }, help)
        ->check(range)
        ->type_name(value_name);
}

// --flag FILE, repeatable: every file given, in order, one per flag. The default policy keeps
// only the last value, which is right for a setting but would drop files here; and one value
// per flag keeps "--nics a b" from reading b as a second file silently.
inline CLI::Option* add_files(CLI::App& app, const std::string& flag,
                              std::vector<std::string>& target, const std::string& help) {
    return app.add_option(flag, target, help)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->expected(1)
        ->allow_extra_args(false)
        ->type_name("FILE");
}

// --flag WORD: one of a fixed list of words, each standing for a value of target.
template <typename T>
CLI::Option* add_choice(CLI::App& app, const std::string& flag, T& target,
                        std::vector<std::pair<std::string, T>> words, const std::string& help) {
    auto table = std::make_shared<const std::vector<std::pair<std::string, T>>>(std::move(words));
    std::string listed;   // "table, json or powershell"
    std::string choices;  // "table|json|powershell"
    for (std::size_t i = 0; i < table->size(); ++i) {
        const std::string& w = (*table)[i].first;
        listed += (i == 0 ? "" : i + 1 == table->size() ? " or " : ", ") + w;
        choices += (i == 0 ? "" : "|") + w;
    }
    CLI::Validator one_of(
        [table, listed](std::string& s) -> std::string {
            for (const auto& w : *table) {
                if (w.first == s) {
                    return {};
                }
            }
            return "takes " + listed + ", not '" + s + "'";
        },
        "", "");
    return app
        .add_option_function<std::string>(
            flag,
            [table, &target](const std::string& s) {
                for (const auto& w : *table) {
                    if (w.first == s) {
                        target = w.second;
                    }
                }
            },
            help)
        ->check(one_of)
        ->type_name(choices);
}

}  // namespace ringprobe::command_line
