#include "runtime/plan_text.h"

namespace ofl {
namespace {

// Appending to one string keeps printing linear in the plan's size (a plan
// of 64 devices has hundreds of thousands of lines).
class TextWriter {
 public:
  TextWriter& operator<<(const std::string& text) {
    out_ += text;
    return *this;
  }
  TextWriter& operator<<(const char* text) {
    out_ += text;
    return *this;
  }
  TextWriter& operator<<(int64_t value) {
    out_ += std::to_string(value);
    return *this;
  }
  TextWriter& operator<<(int value) { return *this << static_cast<int64_t>(value); }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string Quote(const std::string& text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    if (c == '\n') {
      quoted += "\\n";
      continue;
    }
    quoted += c;
  }
  return quoted + "\"";
}

std::string Ints(const std::vector<int64_t>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + std::to_string(values[i]);
  return text + "]";
}

template <typename T, typename Fn>
void List(TextWriter& out, const std::vector<T>& items, Fn&& print) {
  out << "(";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out << ", ";
    print(items[i]);
  }
  out << ")";
}

void PrintPiece(TextWriter& out, const TensorPiece& piece) {
  out << "a" << piece.actor << " r" << piece.register_id << "." << piece.blob << " "
      << piece.region.ToString();
  if (piece.zeros) out << " zeros";
}

void PrintActor(TextWriter& out, const Actor& actor) {
  out << "  actor a" << actor.id << " " << ActorKindName(actor.kind) << " n" << actor.node << " on "
      << actor.device.ToString() << " stream " << StreamKindName(actor.stream) << " reads ";
  List(out, actor.inputs, [&](const ActorInput& input) {
    out << "r" << input.register_id << "." << input.blob;
    if (input.mutated) out << " inplace";
  });
  out << " produces ";
  if (actor.produced >= 0) {
    out << "r" << actor.produced;
  } else {
    out << "nothing";
  }
  if (actor.acts_per_step != 1) out << " acts " << actor.acts_per_step;
  const BoxingProgram& program = actor.boxing;
  if (!(program == BoxingProgram{})) {
    if (program.collective != CollectiveKind::kNone || !program.group.empty() || program.mesh_axis != -1 ||
        program.group_rank != -1) {
      out << " " << CollectiveKindName(program.collective) << " axis " << program.mesh_axis << " group ";
      List(out, program.group, [&](ActorId member) { out << "a" << member; });
      out << " rank " << program.group_rank;
    }
    out << " fill " << CombineModeName(program.fill);
    if (!program.transfers.empty() || actor.kind == ActorKind::kBoxingCopy) {
      out << " transfers ";
      List(out, program.transfers, [&](const Transfer& transfer) {
        out << "in" << transfer.input << " " << transfer.region.ToString() << " "
            << CombineModeName(transfer.mode);
      });
    }
  }
  out << "\n";
}

void PrintRegister(TextWriter& out, const RegisterDesc& reg) {
  out << "  register r" << reg.id << " on " << reg.device.ToString() << " producer a" << reg.producer
      << " count " << reg.count << " bytes " << reg.byte_size << (reg.persistent ? " persistent" : "")
      << (reg.accumulated ? " accumulated" : "") << " consumers ";
  List(out, reg.consumers, [&](ActorId consumer) { out << "a" << consumer; });
  out << " blobs ";
  List(out, reg.blobs, [&](const BlobDesc& blob) {
    out << blob.desc.ToString() << " at " << Ints(blob.offset) << " of " << blob.logical_shape.ToString()
        << " +" << blob.byte_offset;
  });
  out << "\n";
}

}  // namespace

std::string PlanToText(const Plan& plan) {
  TextWriter out;
  out << "plan {\n";
  for (size_t i = 0; i < plan.nodes.size(); ++i) {
    const PlanNode& node = plan.nodes[i];
    out << "  node n" << static_cast<int64_t>(i) << " " << Quote(node.name) << " " << node.op << " role "
        << (node.role.empty() ? std::string("none") : node.role) << " " << node.attrs.ToString() << "\n";
  }
  for (const Actor& actor : plan.actors) PrintActor(out, actor);
  for (const RegisterDesc& reg : plan.registers) PrintRegister(out, reg);
  for (const FeedDesc& feed : plan.feeds) {
    out << "  feed " << Quote(feed.name) << " " << feed.desc.ToString() << " pieces ";
    List(out, feed.pieces, [&](const TensorPiece& piece) { PrintPiece(out, piece); });
    out << "\n";
  }
  for (const FetchDesc& fetch : plan.fetches) {
    out << "  fetch " << Quote(fetch.name) << " " << fetch.desc.ToString() << " combine "
        << CombineModeName(fetch.combine) << " pieces ";
    List(out, fetch.pieces, [&](const TensorPiece& piece) { PrintPiece(out, piece); });
    out << "\n";
  }
  for (const VariableDesc& variable : plan.variables) {
    out << "  variable " << Quote(variable.name) << " " << variable.desc.ToString() << " "
        << variable.initializer.ToString() << " pieces ";
    List(out, variable.pieces, [&](const TensorPiece& piece) { PrintPiece(out, piece); });
    out << "\n";
  }
  out << "}\n";
  return out.Take();
}

}  // namespace ofl
