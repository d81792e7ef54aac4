//go:build race

package main

// raceEnabled tells the scripts' [race] condition that the race detector
// is on: it slows the code and inflates memory, which some bounds allow for.
const raceEnabled = true
