// A character-level text corpus for examples/gpt_char: the English fortunes
// of the Debian package `fortunes`, a byte vocabulary, a deterministic
// train/validation split and the batches of a training step.
//
// Contract:
// - LoadFortunes reads the regular files of `dir` whose names have no '.'
//   (so not the .dat indexes or the .u8 links), in sorted name order; a
//   subdirectory (the offensive 'off/' of fortunes-off) is not read. Each
//   file is a list of records separated by lines holding only '%'; the
//   corpus text is every non-empty record followed by the line "%\n", so a
//   model learns where a fortune ends.
// - The vocabulary is id 0 = unknown (a byte the corpus never had, e.g. in a
//   prompt) followed by the sorted set of bytes seen: ids are stable for a
//   given corpus.
// - The last 10% of the text (rounded down) is the validation text, the rest
//   the training text; nothing is shuffled.
// - A training step's batch depends only on (seed, step), so a run resumed at
//   step S feeds what the uninterrupted run fed at S.
// Errors begin with "[<program>]" and name the directory or file.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "oneflow_like/host_tensor.h"
#include "oneflow_like/status.h"

namespace ofl::examples {

/// Text as token ids plus the vocabulary that maps bytes to ids and back.
class TextCorpus {
 public:
  /// The id of a byte the vocabulary does not hold.
  static constexpr int64_t kUnknownId = 0;

  /// Builds the vocabulary from `text` and keeps `text` as token ids.
  explicit TextCorpus(const std::string& text);

  /// Number of ids (unknown included).
  int64_t vocab_size() const { return static_cast<int64_t>(id_to_byte_.size()); }
  /// The whole text as ids.
  const std::vector<int32_t>& ids() const { return ids_; }
  /// Number of training ids (the first 90% of the text).
  int64_t train_size() const { return train_size_; }
  /// Number of validation ids (the last 10%).
  int64_t validation_size() const { return static_cast<int64_t>(ids_.size()) - train_size_; }
  /// The id of `byte` (kUnknownId when the corpus never had it).
  int64_t Encode(unsigned char byte) const { return byte_to_id_[byte]; }
  /// `text` as ids.
  std::vector<int64_t> Encode(const std::string& text) const;
  /// The byte of `id` ('?' for kUnknownId or an id out of range).
  char Decode(int64_t id) const;

  /// Feeds "tokens" [batch, context] (i64) and "labels" [batch, context]
  /// (the next character of each position) of `batch` windows starting at
  /// `starts` (ids into ids(); each start + context + 1 <= size).
  std::array<HostTensor, 2> Windows(const std::vector<int64_t>& starts, int64_t context) const;
  /// The window starts of training step `step`: `batch` uniform offsets
  /// in the training text, from a generator seeded by (seed, step) only.
  std::vector<int64_t> TrainStarts(uint64_t seed, int64_t step, int64_t batch, int64_t context) const;
  /// `count` window starts spread evenly over the validation text (the
  /// fixed validation set); fewer when the validation text is too short.
  std::vector<int64_t> ValidationStarts(int64_t count, int64_t context) const;

 private:
  std::vector<int32_t> ids_;
  std::vector<char> id_to_byte_;
  std::array<int64_t, 256> byte_to_id_{};
  int64_t train_size_ = 0;
};

/// The concatenated fortunes text of `dir` (see the contract above).
/// `program` prefixes error messages.
StatusOr<std::string> LoadFortunes(const std::string& program, const std::string& dir);

}  // namespace ofl::examples
