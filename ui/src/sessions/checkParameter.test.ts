import { describe, expect, it } from 'vitest';
import type { DocumentParameter } from '../backend/types';
import { checkParameter } from './StartSessionDialog';

const parameter = (patch: Partial<DocumentParameter>): DocumentParameter => ({
  name: 'p',
  type: 'String',
  description: '',
  default: null,
  allowedValues: [],
  allowedPattern: null,
  ...patch,
});

describe('document parameters', () => {
  it('are required when the document gives no default', () => {
    expect(checkParameter(parameter({}), '  ')).toMatch(/Required/);
    expect(checkParameter(parameter({ default: '80' }), '')).toBeNull();
  });

  it('are checked against their type, allowed values and pattern', () => {
    expect(checkParameter(parameter({ type: 'Integer' }), '12a')).toBe('A whole number.');
    expect(checkParameter(parameter({ type: 'Boolean' }), 'yes')).toBe('true or false.');
    expect(checkParameter(parameter({ allowedValues: ['a', 'b'] }), 'c')).toBe('One of: a, b.');
    expect(checkParameter(parameter({ allowedPattern: '^[0-9]+$' }), '80')).toBeNull();
    expect(checkParameter(parameter({ allowedPattern: '^[0-9]+$' }), 'eighty')).toBe('Must match ^[0-9]+$.');
    expect(
      checkParameter(parameter({ type: 'StringList', allowedPattern: '^[a-z]+$' }), 'ab\ncd'),
    ).toBeNull();
    expect(checkParameter(parameter({ allowedPattern: '([' }), 'x')).toBeNull();
  });
});
