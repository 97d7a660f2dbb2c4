// Package common holds the type of .Values under the name helm gives it (common.Values), so
// that templates see the same type names (typeOf, error messages) as with helm.
package common

type Values map[string]any
