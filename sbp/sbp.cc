#include "sbp/sbp.h"

#include <tuple>

namespace ofl {

std::string Sbp::ToString() const {
  switch (kind) {
    case Kind::kSplit: return "S(" + std::to_string(axis) + ")";
    case Kind::kBroadcast: return "B";
    case Kind::kPartialSum: return "P";
    case Kind::kPartialMax: return "P(max)";
  }
  return "?";
}

bool Sbp::operator<(const Sbp& other) const {
  const int my_axis = IsSplit() ? axis : 0;
  const int other_axis = other.IsSplit() ? other.axis : 0;
  return std::tie(kind, my_axis) < std::tie(other.kind, other_axis);
}

namespace {

std::string Trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  const auto end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

}  // namespace

StatusOr<Sbp> ParseSbp(const std::string& raw) {
  const std::string text = Trim(raw);
  if (text == "B") return Sbp::Broadcast();
  if (text == "P" || text == "P(sum)") return Sbp::PartialSum();
  if (text == "P(max)") return Sbp::PartialMax();
  if (text.size() >= 4 && text.rfind("S(", 0) == 0 && text.back() == ')') {
    const std::string digits = text.substr(2, text.size() - 3);
    if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos) {
      return Sbp::Split(std::stoi(digits));
    }
  }
  return ErrorBuilder() << "[sbp] expected S(axis), B, P, P(sum) or P(max), got '" << raw << "'";
}

std::string NdSbpToString(const NdSbp& nd_sbp) {
  if (nd_sbp.size() == 1) return nd_sbp[0].ToString();
  std::string text = "(";
  for (size_t i = 0; i < nd_sbp.size(); ++i) text += (i ? ", " : "") + nd_sbp[i].ToString();
  return text + ")";
}

StatusOr<NdSbp> ParseNdSbp(const std::string& raw) {
  std::string text = Trim(raw);
  if (!text.empty() && text.front() == '(' && text.back() == ')' && text.rfind("S(", 0) != 0) {
    text = text.substr(1, text.size() - 2);
  }
  NdSbp result;
  int depth = 0;
  std::string current;
  for (char c : text + ",") {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      OFL_ASSIGN_OR_RETURN(Sbp sbp, ParseSbp(current));
      result.push_back(sbp);
      current.clear();
    } else {
      current += c;
    }
  }
  return result;
}

}  // namespace ofl
