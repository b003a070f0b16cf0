// Everything that puts a target into words, in one include for the renderers and the
// exporter: the text helpers, the target's facts, the probe log, the faulty part and the
// remedy. Each has its own header.
#pragma once

#include "report/facts.hpp"
#include "report/fault_part.hpp"
#include "report/probe_log.hpp"
#include "report/remedy.hpp"
#include "report/text.hpp"
