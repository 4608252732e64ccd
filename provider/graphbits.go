package provider

import (
	"container/heap"
	"iter"
	"math/bits"
)

// bitset is a set of small non-negative integers, a bit each: the stacks below a stack,
// for graphs of thousands of stacks, cost V²/8 bytes in all (12.5 MB at 10,000).
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) add(i int)      { b[i/64] |= 1 << (uint(i) % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(uint(i)%64)) != 0 }

func (b bitset) union(o bitset) {
	for i, w := range o {
		b[i] |= w
	}
}

func (b bitset) clear() { clear(b) }

// members yields the set's elements in increasing order.
func (b bitset) members() iter.Seq[int] {
	return func(yield func(int) bool) {
		for i, w := range b {
			for w != 0 {
				t := bits.TrailingZeros64(w)
				if !yield(i*64 + t) {
					return
				}
				w &= w - 1
			}
		}
	}
}

// intHeap is a min-heap of ints.
type intHeap struct{ items []int }

func (h *intHeap) Len() int           { return len(h.items) }
func (h *intHeap) Less(i, j int) bool { return h.items[i] < h.items[j] }
func (h *intHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *intHeap) Push(x any)         { h.items = append(h.items, x.(int)) }
func (h *intHeap) Pop() any {
	last := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return last
}

func (h *intHeap) push(i int) { heap.Push(h, i) }
func (h *intHeap) pop() int   { return heap.Pop(h).(int) }
func (h *intHeap) len() int   { return len(h.items) }

// frontier is a walk of a graph a level at a time, each level read before the next is
// worked out: one end of readFresh's search, or preview's walk below new edges (warm).
// It holds the stacks reached and the last level.
type frontier struct {
	step    func(ref string) []string
	reached map[string]bool
	level   []string
}

func newFrontier(start []string, step func(ref string) []string) *frontier {
	f := &frontier{step: step, reached: map[string]bool{}}
	f.advance(start)
	return f
}

// next is the stacks one step on from the last level, not reached yet.
func (f *frontier) next() []string {
	var out []string
	queued := map[string]bool{}
	for _, ref := range f.level {
		for _, to := range f.step(ref) {
			if !f.reached[to] && !queued[to] {
				queued[to] = true
				out = append(out, to)
			}
		}
	}
	return out
}

func (f *frontier) advance(level []string) {
	for _, ref := range level {
		f.reached[ref] = true
	}
	f.level = level
}
